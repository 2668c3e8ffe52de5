System.print(0.exp) // expect: 1
System.print(1.exp) // expect: 2.718281828459
System.print(1.log) // expect: 0
System.print(8.log2) // expect: 3
System.print(1024.log2) // expect: 10
System.print(0.log) // expect: -infinity
System.print(100.log / 10.log) // expect: 2
