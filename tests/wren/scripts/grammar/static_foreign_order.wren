class Foo {
  static foreign foo() // expect error
}