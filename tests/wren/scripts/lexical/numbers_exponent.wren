System.print(1e3) // expect: 1000
System.print(1E3) // expect: 1000
System.print(1e+2) // expect: 100
System.print(2e-2) // expect: 0.02
System.print(1.5e2) // expect: 150
System.print(1.5e-1) // expect: 0.15
System.print(12e0) // expect: 12
System.print(5e20) // expect: 5e+20
