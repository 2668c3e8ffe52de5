class A {
  construct new() { _x = "a" }
  ax { _x }
}
class B is A {
  construct new() {
    super()
    _x = "b"
  }
  bx { _x }
}
var b = B.new()
System.print(b.ax) // expect: a
System.print(b.bx) // expect: b
