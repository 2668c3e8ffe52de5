System.printAll([1, "a", null, [2]]) // expect: 1anull[2]
System.printAll([]) // expect:
System.writeAll(["x", 1])
System.print() // expect: x1
System.printAll(1..3) // expect: 123
