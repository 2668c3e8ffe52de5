class Foo {
  construct new() {}
  broken { [][0] } // expect runtime error: Subscript out of bounds.
}
System.print(Foo.new().broken)
