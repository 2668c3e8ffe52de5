class Foo {
  foreign bar { 1 } // expect error
}
