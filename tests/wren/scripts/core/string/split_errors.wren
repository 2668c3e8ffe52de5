System.print(Fiber.new { "a".split("") }.try()) // expect: Delimiter must be a non-empty string.
System.print(Fiber.new { "a".split(1) }.try()) // expect: Delimiter must be a non-empty string.
