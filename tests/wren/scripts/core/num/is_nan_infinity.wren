System.print((0 / 0).isNan) // expect: true
System.print((1 / 0).isInfinity) // expect: true
System.print((-1 / 0).isInfinity) // expect: true
System.print(1.isInfinity) // expect: false
System.print(1.isNan) // expect: false
System.print(Num.nan.isInfinity) // expect: false
System.print(Num.infinity.isNan) // expect: false
