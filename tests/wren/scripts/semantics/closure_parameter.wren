var adder = Fn.new {|x| Fn.new {|y| x + y } }
var add5 = adder.call(5)
System.print(add5.call(1)) // expect: 6
System.print(add5.call(10)) // expect: 15
System.print(adder.call(1).call(1)) // expect: 2
var changeParam = Fn.new {|p|
  var get = Fn.new { p }
  p = "reassigned"
  return get
}
System.print(changeParam.call("original").call()) // expect: reassigned
