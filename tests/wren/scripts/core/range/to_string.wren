System.print(1..3) // expect: 1..3
System.print(1...3) // expect: 1...3
System.print(1.5..2.5) // expect: 1.5..2.5
System.print(-1..-3) // expect: -1..-3
System.print((1..3).toString == "1..3") // expect: true
System.print("%(0...10)") // expect: 0...10
