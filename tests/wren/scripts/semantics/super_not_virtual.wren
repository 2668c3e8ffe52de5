class A {
  construct new() {}
  who { "A" }
  describe { "describe sees " + who }
}
class B is A {
  construct new() { super() }
  who { "B" }
  describe { "B: " + super.describe }
}
class C is B {
  construct new() { super() }
  who { "C" }
}
System.print(C.new().describe) // expect: B: describe sees C
