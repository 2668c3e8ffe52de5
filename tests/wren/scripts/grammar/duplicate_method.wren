class Foo {
  foo() { 1 }
  foo() { 2 } // expect error
}