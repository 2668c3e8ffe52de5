var list = [1, 2, 3]
System.print(list[3]) // expect runtime error: Subscript out of bounds.
