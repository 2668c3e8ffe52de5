System.print(Fiber.new { "a".trim(1) }.try()) // expect: Characters must be a string.
System.print(Fiber.new { "a".trimStart(null) }.try()) // expect: Characters must be a string.
System.print(Fiber.new { "a".trimEnd([]) }.try()) // expect: Characters must be a string.
