class Foo {
  static construct new() {} // expect error
}