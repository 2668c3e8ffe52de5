System.print(1 / 0) // expect: infinity
System.print(-1 / 0) // expect: -infinity
System.print(0 / 0) // expect: nan
System.print(-0) // expect: -0
System.print(0 * -1) // expect: -0
System.print(Num.infinity) // expect: infinity
System.print(-Num.infinity) // expect: -infinity
System.print(Num.nan) // expect: nan
System.print(Num.nan == Num.nan) // expect: false
System.print(Num.nan != Num.nan) // expect: true
System.print(Num.infinity > 1e308) // expect: true
System.print(1e300 * 1e10) // expect: infinity
System.print(-0 == 0) // expect: true
