class Foo {
  static // expect error
  foo() {} // expect error
  bar() {}
}
