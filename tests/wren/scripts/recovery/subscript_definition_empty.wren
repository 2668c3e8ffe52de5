class Foo {
  [] { "x" } // expect error
  bar { 1 }
}
