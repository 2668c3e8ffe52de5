// A module variable declared before the class does not hide a method of that
// name: a lowercase name in a method that is no local is a call on `this`.
var name = "module"
class Foo {
  construct new() {}
  name { "method" }
  name=(value) { System.print("setter %(value)") }
  test { System.print(name) }
  assign { name = "assigned" }
  static name { "class method" }
  static test { System.print(name) }
}
Foo.new().test // expect: method
Foo.test // expect: class method
Foo.new().assign // expect: setter assigned
System.print(name) // expect: module
