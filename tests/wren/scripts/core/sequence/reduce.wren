System.print([1, 2, 3, 4].reduce {|a, b| a + b }) // expect: 10
System.print([1, 2, 3, 4].reduce(10) {|a, b| a + b }) // expect: 20
System.print([].reduce(0) {|a, b| a + b }) // expect: 0
System.print(["a", "b"].reduce("") {|acc, s| acc + s }) // expect: ab
System.print([5].reduce {|a, b| a * b }) // expect: 5
System.print([3, 1, 2].reduce {|a, b| a.max(b) }) // expect: 3
System.print(Fiber.new { [].reduce {|a, b| a } }.try()) // expect: Can't reduce an empty sequence.
