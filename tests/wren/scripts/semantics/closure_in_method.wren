class Greeter {
  construct new(name) { _name = name }
  greeter { Fn.new { "hello %(_name)" } }
  self { Fn.new { this } }
  name { _name }
  rename(n) { _name = n }
}
var g = Greeter.new("ann")
var f = g.greeter
System.print(f.call()) // expect: hello ann
g.rename("bob")
System.print(f.call()) // expect: hello bob
System.print(g.self.call().name) // expect: bob
System.print(g.self.call() == g) // expect: true
