System.print([].join(1).count) // expect: 0
System.print([1].join(2)) // expect: 1
[1, 2].join(3) // expect runtime error: Right operand must be a string.
