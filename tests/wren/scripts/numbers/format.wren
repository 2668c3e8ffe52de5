System.print(0.1 + 0.2) // expect: 0.3
System.print(1 / 3) // expect: 0.33333333333333
System.print(2 / 3) // expect: 0.66666666666667
System.print(1e20) // expect: 1e+20
System.print(123456789012345678) // expect: 1.2345678901235e+17
System.print(1e-5) // expect: 1e-05
System.print(Num.pi) // expect: 3.1415926535898
System.print(1.0) // expect: 1
System.print(100) // expect: 100
System.print(12345678901234) // expect: 12345678901234
System.print(1e14) // expect: 1e+14
System.print(0.0001) // expect: 0.0001
System.print(10 / 4) // expect: 2.5
System.print(100 / 3) // expect: 33.333333333333
System.print(1e100) // expect: 1e+100
System.print(-1e-7) // expect: -1e-07
System.print(1e15 + 1) // expect: 1e+15
System.print(0.1 * 3) // expect: 0.3
System.print(1.25e-3) // expect: 0.00125
