// "-" is a prefix operator, not part of the number literal.
System.print(-1) // expect: -1
System.print(-1.abs) // expect: -1
System.print((-1).abs) // expect: 1
System.print(2-1) // expect: 1
System.print(2 - -1) // expect: 3
System.print(- 4) // expect: -4
