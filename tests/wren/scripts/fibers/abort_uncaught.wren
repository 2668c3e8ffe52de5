System.print("before") // expect: before
Fiber.abort("fatal") // expect runtime error: fatal
System.print("after")
