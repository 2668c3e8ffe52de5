class Foo {
  construct new() {}
}
var foo = Foo.new()
foo.new() // expect runtime error: Foo does not implement 'new()'.
