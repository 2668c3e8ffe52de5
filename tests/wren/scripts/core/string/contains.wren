System.print("hello".contains("ell")) // expect: true
System.print("hello".contains("hello")) // expect: true
System.print("hello".contains("help")) // expect: false
System.print("hello".contains("hello!")) // expect: false
System.print("héllo".contains("é")) // expect: true
System.print("a\0b".contains("\0")) // expect: true
System.print(Fiber.new { "a".contains(1) }.try()) // expect: Argument must be a string.
