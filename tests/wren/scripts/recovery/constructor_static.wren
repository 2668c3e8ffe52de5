class Foo {
  static construct new() { // expect error
    System.print("body")
  }
  static bar { 1 }
}
