var set
var get
{
  var shared = "initial"
  set = Fn.new {|v| shared = v }
  get = Fn.new { shared }
  System.print(get.call()) // expect: initial
  shared = "changed in scope"
  System.print(get.call()) // expect: changed in scope
}
set.call("changed by closure")
System.print(get.call()) // expect: changed by closure
