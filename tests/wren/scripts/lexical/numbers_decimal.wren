System.print(0) // expect: 0
System.print(123) // expect: 123
System.print(1.5) // expect: 1.5
System.print(0.25) // expect: 0.25
System.print(1.0) // expect: 1
System.print(-12.75) // expect: -12.75
System.print(1234567) // expect: 1234567
