System.print(1 << 2 + 1) // expect: 8
System.print(2 * 3 << 1) // expect: 12
System.print(6 & 3 ^ 1) // expect: 3
System.print(1 ^ 3 | 4) // expect: 6
System.print(12 | 3 & 5) // expect: 13
System.print(5 & 1 == 1) // expect: true
System.print(1 | 2 == 3) // expect: true
System.print(8 >> 1 < 5) // expect: true
System.print(~1 & 7) // expect: 6
