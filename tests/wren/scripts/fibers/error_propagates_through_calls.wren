var inner = Fiber.new {
  null.missing // expect runtime error: Null does not implement 'missing'.
}
var outer = Fiber.new { inner.call() }
outer.call()
