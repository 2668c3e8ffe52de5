class Foo {
  construct -(value) {} // expect error
  construct -() {} // expect error
  bar { 1 }
}
