var list = [1, 2]
list[] // expect error
System.print("never") // expect error
