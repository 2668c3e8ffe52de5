System.print("%(1 / 4)") // expect: 0.25
System.print("%(2e21)") // expect: 2e+21
System.print(1.5.toString + "!") // expect: 1.5!
System.print(7.toString.count) // expect: 1
System.print([0.5, 1e-10, 3]) // expect: [0.5, 1e-10, 3]
System.print((1/3).toString) // expect: 0.33333333333333
