System.print(Fiber.new { [1, 2].sort(1) }.try()) // expect: Comparer must be a function.
System.print(Fiber.new { ["b", "a"].sort() }.try()) // expect: String does not implement '<(_)'.
