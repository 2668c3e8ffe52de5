System.print(1.toString) // expect: 1
System.print(1.toString is String) // expect: true
System.print((-2.5).toString) // expect: -2.5
System.print((-0).toString) // expect: -0
System.print((1 / 0).toString) // expect: infinity
System.print(1e21.toString) // expect: 1e+21
