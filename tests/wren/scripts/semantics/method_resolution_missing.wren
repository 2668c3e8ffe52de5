class Foo {
  construct new() {}
  test() {
    missing // expect runtime error: Foo does not implement 'missing'.
  }
}
Foo.new().test()
