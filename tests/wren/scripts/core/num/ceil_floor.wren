System.print(1.2.ceil) // expect: 2
System.print((-1.2).ceil) // expect: -1
System.print(1.0.ceil) // expect: 1
System.print(1.8.floor) // expect: 1
System.print((-1.2).floor) // expect: -2
System.print(5.floor) // expect: 5
System.print(Num.infinity.floor) // expect: infinity
