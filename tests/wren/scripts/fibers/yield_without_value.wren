var f = Fiber.new {
  var v = Fiber.yield()
  System.print(v)
}
System.print(f.call()) // expect: null
f.call() // expect: null
