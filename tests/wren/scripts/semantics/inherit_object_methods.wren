class Foo {
  construct new() {}
}
var foo = Foo.new()
System.print(foo.type) // expect: Foo
System.print(foo.toString) // expect: instance of Foo
System.print(foo) // expect: instance of Foo
System.print(!foo) // expect: false
System.print(foo is Foo) // expect: true
System.print(foo is Object) // expect: true
System.print(foo is Class) // expect: false
