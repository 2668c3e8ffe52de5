class Foo {
  construct new() {}
  bar { "bar getter" }
  baz(x) { "baz %(x)" }
  value=(v) { _value = v }
  value { _value }
  test() {
    System.print(bar)
    System.print(baz(1))
    value = "set through this"
    System.print(value)
  }
  shadow() {
    var bar = "local wins"
    System.print(bar)
  }
}
Foo.new().test()
// expect: bar getter
// expect: baz 1
// expect: set through this
Foo.new().shadow() // expect: local wins
