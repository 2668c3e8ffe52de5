class Foo {
  static foo(a) { 1 }
  static foo(b) { 2 } // expect error
}