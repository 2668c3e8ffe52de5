// A lowercase name in a method is a call on `this` when the module variable of
// that name is declared only later in the file.
class Foo {
  construct new() {}
  name { "method" }
  test { System.print(name) }
  assign { name = "set" }
  name=(value) { System.print("setter %(value)") }
  static kind { "static method" }
  static test { System.print(kind) }
  closure { Fn.new { name }.call() }
}
var name = "module"
var kind = "module"
Foo.new().test // expect: method
Foo.new().assign // expect: setter set
Foo.test // expect: static method
System.print(Foo.new().closure) // expect: method
System.print(name) // expect: module
