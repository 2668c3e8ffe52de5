var s = "ab" * 50000
System.print(s.count) // expect: 100000
System.print(s[99999]) // expect: b
var big = List.filled(100000, 0)
System.print(big.count) // expect: 100000
big[99999] = 1
System.print(big.reduce {|a, b| a + b }) // expect: 1
var text = (1..1000).map {|i| i.toString }.join(",")
System.print(text.split(",").count) // expect: 1000
