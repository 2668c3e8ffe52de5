class Foo {
  construct new(x) {
    _x = 1 + x // expect runtime error: Right operand must be a number.
  }
}
Foo.new(1)
Foo.new("a")
