var s = "abc"
System.print(s[10]) // expect runtime error: Subscript out of bounds.
