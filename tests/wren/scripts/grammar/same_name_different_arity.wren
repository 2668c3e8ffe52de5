class Foo {
  static foo { "getter" }
  static foo() { "none" }
  static foo(a) { "one" }
  static foo(a, b) { "two" }
  static foo=(v) { "setter" }
  foo() { "instance" }
}
System.print(Foo.foo) // expect: getter
System.print(Foo.foo()) // expect: none
System.print(Foo.foo(1)) // expect: one
System.print(Foo.foo(1, 2)) // expect: two
