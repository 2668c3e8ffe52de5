System.print(System.clock is Num) // expect: true
var start = System.clock
var x = 0
for (i in 1..10000) x = x + i
System.print(System.clock >= start) // expect: true
System.print(start >= 0) // expect: true
