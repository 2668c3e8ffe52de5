System.print("hello".startsWith("he")) // expect: true
System.print("hello".startsWith("lo")) // expect: false
System.print("hello".startsWith("hello")) // expect: true
System.print("hello".startsWith("hello!")) // expect: false
System.print("hello".endsWith("lo")) // expect: true
System.print("hello".endsWith("he")) // expect: false
System.print("héllo".endsWith("llo")) // expect: true
System.print(Fiber.new { "a".startsWith(1) }.try()) // expect: Argument must be a string.
System.print(Fiber.new { "a".endsWith(null) }.try()) // expect: Argument must be a string.
