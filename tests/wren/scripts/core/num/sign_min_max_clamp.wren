System.print(5.sign) // expect: 1
System.print((-5).sign) // expect: -1
System.print(0.sign) // expect: 0
System.print(0.5.sign) // expect: 1
System.print(3.min(5)) // expect: 3
System.print(3.max(5)) // expect: 5
System.print((-1).min(-2)) // expect: -2
System.print(2.5.max(2)) // expect: 2.5
System.print(10.clamp(1, 5)) // expect: 5
System.print((-1).clamp(0, 3)) // expect: 0
System.print(2.clamp(0, 3)) // expect: 2
