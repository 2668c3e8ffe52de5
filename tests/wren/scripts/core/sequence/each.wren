[1, 2, 3].each {|x| System.print(x) }
// expect: 1
// expect: 2
// expect: 3
var total = 0
(1..4).each {|x| total = total + x }
System.print(total) // expect: 10
