class A {
  static hello() { "hello" }
}
class B is A {}
System.print(A.hello()) // expect: hello
B.hello() // expect runtime error: B metaclass does not implement 'hello()'.
