var f = Fiber.new {
  Fiber.abort("inside") // expect runtime error: inside
}
f.call()
System.print("never")
