System.print(1 is 1) // expect runtime error: Right operand must be a class.
