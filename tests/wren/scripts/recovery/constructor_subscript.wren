class Foo {
  construct [value] {} // expect error
  bar { 1 }
}
