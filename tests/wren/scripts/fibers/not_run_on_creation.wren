var fiber = Fiber.new { System.print("running") }
System.print("created") // expect: created
fiber.call() // expect: running
