System.print((1..10).count) // expect: 10
System.print((1..10).count {|x| x % 3 == 0 }) // expect: 3
System.print([].count {|x| true }) // expect: 0
System.print([1, 2, 3].where {|x| x > 1 }.count) // expect: 2
