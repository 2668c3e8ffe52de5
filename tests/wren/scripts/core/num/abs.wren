System.print(123.abs) // expect: 123
System.print((-123).abs) // expect: 123
System.print(0.abs) // expect: 0
System.print((-0).abs) // expect: 0
System.print((-1.5).abs) // expect: 1.5
System.print((-Num.infinity).abs) // expect: infinity
