System.print(true ? (false ? 1 : 2) : 3) // expect: 2
System.print(false ? 1 : true ? 4 : 5) // expect: 4
var b = true ? 6 : 7
System.print(b) // expect: 6
