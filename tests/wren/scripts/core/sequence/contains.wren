System.print([1, 2, 3].contains(2)) // expect: true
System.print([1, 2, 3].contains(4)) // expect: false
System.print([].contains(null)) // expect: false
System.print(["a"].contains("a")) // expect: true
System.print((1..3).map {|x| x * 2 }.contains(6)) // expect: true
