var list = [1, 2, 3]
System.print(list[0]) // expect: 1
System.print((1 + 2) * 3) // expect: 9
System.print(1..2) // expect: 1..2
System.print(1...2) // expect: 1...2
System.print(true ? "yes" : "no") // expect: yes
System.print(!false) // expect: true
System.print(~0) // expect: 4294967295
System.print(6 & 3) // expect: 2
System.print(6 | 3) // expect: 7
System.print(6 ^ 3) // expect: 5
System.print(1 << 4) // expect: 16
System.print(16 >> 2) // expect: 4
System.print(1 != 2) // expect: true
System.print(2 <= 2) // expect: true
System.print(3 >= 4) // expect: false
System.print(true && false || true) // expect: true
