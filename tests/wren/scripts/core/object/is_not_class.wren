System.print(null is null) // expect runtime error: Right operand must be a class.
