System.print([].isEmpty) // expect: true
System.print([1].isEmpty) // expect: false
System.print((1...1).isEmpty) // expect: true
System.print((1..1).isEmpty) // expect: false
System.print([1, 2].where {|x| x > 5 }.isEmpty) // expect: true
