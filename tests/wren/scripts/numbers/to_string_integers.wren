// Integers print all their digits below 1e14, then switch to an exponent (%.14g).
System.print(0) // expect: 0
System.print(-0) // expect: -0
System.print(7) // expect: 7
System.print(-42) // expect: -42
System.print(99999999999999) // expect: 99999999999999
System.print(-99999999999999) // expect: -99999999999999
System.print(100000000000000) // expect: 1e+14
System.print(123456789012345) // expect: 1.2345678901234e+14
System.print(1.5) // expect: 1.5
System.print(-0.5) // expect: -0.5
System.print("%(10 * 10)|%(3 - 5)") // expect: 100|-2
System.print(2.pow(53)) // expect: 9.007199254741e+15
System.print((0.1 + 0.2).toString) // expect: 0.3
