// This file has CR LF line endings; the CRs are ignored.
System.print("one") // expect: one
var s = "two"
System.print(s) // expect: two
class Foo {
  construct new() {}
  bar { "three" }
}
System.print(Foo.new().bar) // expect: three
