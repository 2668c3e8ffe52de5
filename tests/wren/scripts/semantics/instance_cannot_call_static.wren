class Foo {
  construct new() {}
  static helper() { "static" }
  test() { helper() } // expect runtime error: Foo does not implement 'helper()'.
}
Foo.new().test()
