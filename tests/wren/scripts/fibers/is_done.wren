var f = Fiber.new {
  Fiber.yield()
}
System.print(f.isDone) // expect: false
f.call()
System.print(f.isDone) // expect: false
f.call()
System.print(f.isDone) // expect: true
var g = Fiber.new { Fiber.abort("x") }
g.try()
System.print(g.isDone) // expect: true
