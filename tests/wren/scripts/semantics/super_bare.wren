class A {
  construct new() {}
  name { "A" }
  greet(x) { "A greets %(x)" }
}
class B is A {
  construct new() { super() }
  name { "B/" + super }
  greet(x) { "B, " + super(x) }
}
var b = B.new()
System.print(b.name) // expect: B/A
System.print(b.greet("you")) // expect: B, A greets you
