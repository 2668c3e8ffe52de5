class Foo {
  construct new() {}
}
var m = {}
m[Foo.new()] = 1 // expect runtime error: Key must be a value type.
