class Foo {
  construct new() {}
  name { "getter" }
  name() { "method" }
  name(a) { "one arg" }
  name(a, b) { "two args" }
}
var foo = Foo.new()
System.print(foo.name) // expect: getter
System.print(foo.name()) // expect: method
System.print(foo.name(1)) // expect: one arg
System.print(foo.name(1, 2)) // expect: two args
