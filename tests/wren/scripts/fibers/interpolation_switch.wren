var f = Fiber.new {
  System.print("a %(Fiber.yield("paused")) b")
}
System.print(f.call()) // expect: paused
f.call("middle") // expect: a middle b
