var a = 1
a = 2
System.print(a) // expect: 2
var b
var c
b = c = 3
System.print(b) // expect: 3
System.print(c) // expect: 3
System.print(a = "value") // expect: value
var d = a = 4
System.print(d) // expect: 4
System.print(a) // expect: 4
