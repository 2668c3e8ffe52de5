System.print((1..5).map {|x| x * x }.toList) // expect: [1, 4, 9, 16, 25]
System.print((1..10).where {|x| x % 3 == 0 }.toList) // expect: [3, 6, 9]
System.print((1..5).contains(3)) // expect: true
System.print((1..5).contains(6)) // expect: false
System.print((1..10).count) // expect: 10
System.print((1..100000).reduce(0) {|a, b| a + b }) // expect: 5000050000
System.print((1..4).join(" ")) // expect: 1 2 3 4
