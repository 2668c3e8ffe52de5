System.print(0.sin) // expect: 0
System.print(0.cos) // expect: 1
System.print(0.tan) // expect: 0
System.print(Num.pi.cos) // expect: -1
System.print((Num.pi / 2).sin) // expect: 1
System.print(0.asin) // expect: 0
System.print(1.acos) // expect: 0
System.print(1.asin) // expect: 1.5707963267949
System.print(1.atan) // expect: 0.78539816339745
System.print(1.atan(1)) // expect: 0.78539816339745
System.print(0.atan(-1)) // expect: 3.1415926535898
System.print((-1).acos) // expect: 3.1415926535898
