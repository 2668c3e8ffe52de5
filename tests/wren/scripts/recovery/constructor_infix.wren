class Foo {
  construct +(value) { // expect error
    System.print("body")
  }
  bar { 1 }
}
System.print(Foo)
