System.print(1 + 2) // expect: 3
System.print(5 - 8) // expect: -3
System.print(3 * 4) // expect: 12
System.print(7 / 2) // expect: 3.5
System.print(2.5 * 2) // expect: 5
System.print(0.5 + 0.25) // expect: 0.75
System.print(-(3)) // expect: -3
System.print(--3) // expect: 3
System.print(2 * -3) // expect: -6
System.print(9007199254740992 + 1 == 9007199254740992) // expect: true
