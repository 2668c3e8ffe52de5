class A {
  static set(v) { __v = v }
  static get { __v }
}
class B is A {
  static set(v) { __v = v }
  static get { __v }
}
A.set("a")
B.set("b")
System.print(A.get) // expect: a
System.print(B.get) // expect: b
