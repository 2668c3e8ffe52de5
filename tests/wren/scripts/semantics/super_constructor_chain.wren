class A {
  construct new(a) {
    System.print("A init %(a)")
    _a = a
  }
  a { _a }
}
class B is A {
  construct new(a, b) {
    super(a)
    System.print("B init %(b)")
    _b = b
  }
  b { _b }
}
class C is B {
  construct new() {
    super(1, 2)
    System.print("C init")
  }
}
var c = C.new()
// expect: A init 1
// expect: B init 2
// expect: C init
System.print(c.a + c.b) // expect: 3
