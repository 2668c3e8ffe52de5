var f = Fn.new { "called" }
System.print(f.call()) // expect: called
System.print(Fn.new(f) == f) // expect: true
System.print(f) // expect: <fn>
System.print(f.toString) // expect: <fn>
System.print(f is Fn) // expect: true
System.print(f.type) // expect: Fn
System.print(Fiber.new { Fn.new(3) }.try()) // expect: Argument must be a function.
System.print(Fiber.new { Fn.new("x") }.try()) // expect: Argument must be a function.
