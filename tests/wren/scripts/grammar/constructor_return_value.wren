class Foo {
  construct new() {
    return 1 // expect error
  }
}