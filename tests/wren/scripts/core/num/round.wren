System.print(1.4.round) // expect: 1
System.print(1.5.round) // expect: 2
System.print(2.5.round) // expect: 3
System.print((-1.5).round) // expect: -2
System.print((-2.5).round) // expect: -3
System.print(3.round) // expect: 3
System.print((-1.4).round) // expect: -1
System.print(0.49999.round) // expect: 0
