class Foo {
  construct new {} // expect error
}