// A module variable declared before the method wins over a method of that name.
var name = "module"
class Foo {
  construct new() {}
  name { "method" }
  test { System.print(name) }
  assign { name = "assigned" }
  static test { System.print(name) }
}
Foo.new().test // expect: module
Foo.test // expect: module
Foo.new().assign
System.print(name) // expect: assigned
System.print(Foo.new().name) // expect: method
