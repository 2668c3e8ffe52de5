System.print((1..3).iterate(null)) // expect: 1
System.print((1..3).iterate(1)) // expect: 2
System.print((1..3).iterate(3)) // expect: false
System.print((1...3).iterate(2)) // expect: false
System.print((3..1).iterate(3)) // expect: 2
System.print((1...1).iterate(null)) // expect: false
System.print((1..3).iteratorValue(2)) // expect: 2
System.print(Fiber.new { (1..3).iterate("a") }.try()) // expect: Iterator must be a number.
