var f = Fiber.new { Fiber.yield(1) }
System.print(f.call()) // expect: 1
System.print(f.call(2)) // expect: 2
System.print(f.isDone) // expect: true
