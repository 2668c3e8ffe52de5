class A {
  construct new() {}
  value { "A value" }
}
class B is A {
  construct new() { super() }
  value { "B value" }
  later { Fn.new { super.value } }
}
System.print(B.new().later.call()) // expect: A value
