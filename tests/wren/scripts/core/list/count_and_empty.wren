System.print([].count) // expect: 0
System.print([1, 2, 3].count) // expect: 3
System.print([].isEmpty) // expect: true
System.print([null].isEmpty) // expect: false
System.print([1, 2, 3].count {|x| x > 1 }) // expect: 2
