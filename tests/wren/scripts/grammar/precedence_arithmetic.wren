System.print(2 + 3 * 4) // expect: 14
System.print((2 + 3) * 4) // expect: 20
System.print(20 - 6 / 2) // expect: 17
System.print(7 % 4 * 2) // expect: 6
System.print(2 * 7 % 4) // expect: 2
System.print(10 - 3 - 2) // expect: 5
System.print(64 / 4 / 2) // expect: 8
System.print(-2 * 3) // expect: -6
System.print(-2.abs) // expect: -2
System.print(1 + 2..4) // expect: 3..4
System.print(1..2 + 3) // expect: 1..5
System.print(2 * 3...4 * 2) // expect: 6...8
