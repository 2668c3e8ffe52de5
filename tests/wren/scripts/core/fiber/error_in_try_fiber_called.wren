var log = []
var a = Fiber.new {
  log.add("a")
  Fiber.new {
    log.add("b")
    Fiber.abort("from b")
  }.call()
  log.add("never")
}
System.print(a.try()) // expect: from b
System.print(log) // expect: [a, b]
