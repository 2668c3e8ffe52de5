System.print(1 && 2) // expect: 2
System.print(null && 2) // expect: null
System.print(false && 2) // expect: false
System.print(1 || 2) // expect: 1
System.print(null || 2) // expect: 2
System.print(false || null) // expect: null
System.print("a" && "b" && "c") // expect: c
System.print(false || false || "last") // expect: last
