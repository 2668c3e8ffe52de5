class A {
  construct new() {}
  method() { "A.method" }
  method(x) { "A.method(%(x))" }
  getter { "A.getter" }
}
class B is A {
  construct new() { super() }
  method() { "B then " + super.method() }
  method(x) { "B then " + super.method(x) }
  getter { "B then " + super.getter }
  callOther() { super.method(2) }
}
var b = B.new()
System.print(b.method()) // expect: B then A.method
System.print(b.method(1)) // expect: B then A.method(1)
System.print(b.getter) // expect: B then A.getter
System.print(b.callOther()) // expect: A.method(2)
