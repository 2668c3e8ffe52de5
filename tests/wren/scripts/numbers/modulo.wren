System.print(10 % 3) // expect: 1
System.print(-7 % 3) // expect: -1
System.print(7 % -3) // expect: 1
System.print(-7 % -3) // expect: -1
System.print(5.5 % 2) // expect: 1.5
System.print(6 % 3) // expect: 0
System.print(-6 % 3) // expect: -0
System.print(1 % 0.25) // expect: 0
