class A {
  construct new() {}
}
class B is A {}
System.print(A.new() is A) // expect: true
B.new() // expect runtime error: B metaclass does not implement 'new()'.
