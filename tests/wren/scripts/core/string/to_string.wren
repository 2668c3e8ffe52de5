System.print("abc".toString) // expect: abc
System.print("abc".toString == "abc") // expect: true
System.print("".toString.count) // expect: 0
