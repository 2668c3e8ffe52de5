System.print(Fiber.new { "abc".iterate("x") }.try()) // expect: Iterator must be a number.
System.print(Fiber.new { "abc".iterate(1.5) }.try()) // expect: Iterator must be an integer.
System.print(Fiber.new { "abc".iteratorValue(3) }.try()) // expect: Iterator out of bounds.
System.print(Fiber.new { "abc".iteratorValue("x") }.try()) // expect: Iterator must be a number.
System.print(Fiber.new { "abc".iteratorValue(0.5) }.try()) // expect: Iterator must be an integer.
