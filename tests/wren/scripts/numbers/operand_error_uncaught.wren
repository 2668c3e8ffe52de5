var a = 1
System.print(a + "one") // expect runtime error: Right operand must be a number.
