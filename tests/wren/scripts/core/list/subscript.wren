var list = ["a", "b", "c"]
System.print(list[0]) // expect: a
System.print(list[2]) // expect: c
System.print(list[-1]) // expect: c
System.print(list[-3]) // expect: a
list[1] = "B"
System.print(list) // expect: [a, B, c]
list[-1] = "C"
System.print(list) // expect: [a, B, C]
System.print(list[0] = "z") // expect: z
