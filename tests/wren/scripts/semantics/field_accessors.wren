// Getters and setters whose body only reads or writes a field run without a
// frame; what they return and which field they reach stay the same.
class A {
  construct new() {
    _a = "a"
    _b = "b"
  }
  a { _a }
  b {
    return _b
  }
  a=(value) { _a = value }
  b=(value) {
    _b = value
  }
  both { _a + _b }
}
class B is A {
  construct new() {
    super()
    _c = "c"
  }
  c { _c }
  c=(value) { _c = value }
}
var x = B.new()
System.print([x.a, x.b, x.c, x.both]) // expect: [a, b, c, ab]
System.print(x.a = 1) // expect: 1
System.print(x.b = 2) // expect: null
System.print(x.c = 3) // expect: 3
System.print([x.a, x.b, x.c]) // expect: [1, 2, 3]
var y = A.new()
System.print([y.a, y.b]) // expect: [a, b]
class Empty {
  construct new() {}
  value { _value }
}
System.print(Empty.new().value) // expect: null
System.print(Fiber.new { y.c }.try()) // expect: A does not implement 'c'.
