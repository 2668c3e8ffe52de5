class Foo {
  construct new() {}
}
System.print(Foo.new() + 1) // expect runtime error: Foo does not implement '+(_)'.
