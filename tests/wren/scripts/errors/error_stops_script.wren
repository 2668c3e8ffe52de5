System.print("one") // expect: one
System.print(1 + null) // expect runtime error: Right operand must be a number.
System.print("two")
