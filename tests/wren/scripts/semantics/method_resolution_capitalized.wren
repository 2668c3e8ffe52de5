var Thing = "module variable"
class Foo {
  construct new() {}
  Thing { "method" }
  test() { Thing }
  viaThis() { this.Thing }
}
System.print(Foo.new().test()) // expect: module variable
System.print(Foo.new().viaThis()) // expect: method
