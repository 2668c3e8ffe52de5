System.print([1] == [1]) // expect: false
var list = [1]
System.print(list == list) // expect: true
System.print({} == {}) // expect: false
var f = Fn.new {}
System.print(f == f) // expect: true
System.print(Fn.new {} == Fn.new {}) // expect: false
class Foo {
  construct new() {}
}
var a = Foo.new()
System.print(a == a) // expect: true
System.print(a == Foo.new()) // expect: false
System.print(Foo == Foo) // expect: true
System.print(List == List) // expect: true
System.print(a != Foo.new()) // expect: true
