System.print((1)) // expect: 1
System.print(((1 + 2))) // expect: 3
System.print(-(1 + 2)) // expect: -3
System.print((1 + 2).toString + "!") // expect: 3!
System.print(!(true && false)) // expect: true
