var a = true ? false ? 1 : 2 : 3 // expect error
System.print(a)
