System.print(3.7.truncate) // expect: 3
System.print((-3.7).truncate) // expect: -3
System.print(3.25.fraction) // expect: 0.25
System.print((-3.25).fraction) // expect: -0.25
System.print(5.fraction) // expect: 0
System.print(12.5.truncate) // expect: 12
