System.print("ab" * 3) // expect: ababab
System.print("[" + "ab" * 0 + "]") // expect: []
System.print("é" * 2) // expect: éé
System.print(Fiber.new { "a" * -1 }.try()) // expect: Count must be a non-negative integer.
System.print(Fiber.new { "a" * 1.5 }.try()) // expect: Count must be a non-negative integer.
System.print(Fiber.new { "a" * "b" }.try()) // expect: Count must be a non-negative integer.
