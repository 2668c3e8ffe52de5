var f = Fiber.new {
  System.print("f started")
  Fiber.yield() // expect runtime error: boom
  System.print("never")
}
f.call() // expect: f started
f.transferError("boom")
System.print("never either")
