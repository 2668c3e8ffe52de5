System.print(~0) // expect: 4294967295
System.print(-1 >> 1) // expect: 2147483647
System.print(1 << 31) // expect: 2147483648
System.print(5 & 3) // expect: 1
System.print(5 | 3) // expect: 7
System.print(5 ^ 3) // expect: 6
System.print(~5) // expect: 4294967290
System.print(0xff00 >> 8) // expect: 255
System.print(1 << 0) // expect: 1
System.print(2147483648 << 1) // expect: 0
System.print(0xffffffff & 0xf0f0f0f0) // expect: 4042322160
System.print(~4294967295) // expect: 0
System.print(~~7) // expect: 7
