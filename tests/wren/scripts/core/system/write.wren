System.write("a")
System.write("b")
System.print("c") // expect: abc
System.write(1)
System.write(null)
System.write([2])
System.print() // expect: 1null[2]
