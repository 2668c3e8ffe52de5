System.print("hello".replace("l", "L")) // expect: heLLo
System.print("aaa".replace("a", "bb")) // expect: bbbbbb
System.print("hello".replace("x", "y")) // expect: hello
System.print("hello".replace("hello", "")) // expect:
System.print("a.b.c".replace(".", "::")) // expect: a::b::c
System.print("éé".replace("é", "e")) // expect: ee
System.print(Fiber.new { "a".replace("", "b") }.try()) // expect: From must be a non-empty string.
System.print(Fiber.new { "a".replace(1, "b") }.try()) // expect: From must be a non-empty string.
System.print(Fiber.new { "a".replace("a", 1) }.try()) // expect: To must be a string.
