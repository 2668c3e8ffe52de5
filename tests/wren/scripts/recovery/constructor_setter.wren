class Foo {
  construct foo=(value) {} // expect error
  bar { 1 }
}
