class Foo {
  static bar() {
    Fiber.abort("oops") // expect runtime error: oops
  }
}
Foo.bar()
