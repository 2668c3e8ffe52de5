class Foo {
  construct new() {}
  abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcd { "long" }
}
System.print(Foo.new().abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcd) // expect: long
