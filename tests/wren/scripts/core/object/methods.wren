class Foo {
  construct new() {}
}
var f = Foo.new()
System.print(f == f) // expect: true
System.print(f != f) // expect: false
System.print(!f) // expect: false
System.print(f.toString) // expect: instance of Foo
System.print(f.type) // expect: Foo
System.print(f is Foo) // expect: true
System.print(Object.same(f, f)) // expect: true
System.print(Object.same(f, Foo.new())) // expect: false
System.print(Object.name) // expect: Object
