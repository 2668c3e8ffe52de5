class Foo {
  construct !() {} // expect error
  construct ~ {} // expect error
  bar { 1 }
}
