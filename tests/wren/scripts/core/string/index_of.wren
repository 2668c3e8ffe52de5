System.print("hello".indexOf("l")) // expect: 2
System.print("hello".indexOf("lo")) // expect: 3
System.print("hello".indexOf("z")) // expect: -1
System.print("héllo".indexOf("l")) // expect: 3
System.print("hello".indexOf("hello")) // expect: 0
System.print("hello".indexOf("l", 3)) // expect: 3
System.print("hello".indexOf("l", 4)) // expect: -1
System.print("abcabc".indexOf("b", 2)) // expect: 4
System.print("abcabc".indexOf("b", -3)) // expect: 4
System.print(Fiber.new { "a".indexOf(1) }.try()) // expect: Argument must be a string.
System.print(Fiber.new { "abc".indexOf("a", "x") }.try()) // expect: Start must be a number.
System.print(Fiber.new { "abc".indexOf("a", 1.5) }.try()) // expect: Start must be an integer.
System.print(Fiber.new { "abc".indexOf("a", 10) }.try()) // expect: Start out of bounds.
