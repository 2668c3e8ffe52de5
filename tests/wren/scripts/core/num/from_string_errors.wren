System.print(Fiber.new { Num.fromString(1) }.try()) // expect: Argument must be a string.
System.print(Fiber.new { Num.fromString("1e999") }.try()) // expect: Number literal is too large.
