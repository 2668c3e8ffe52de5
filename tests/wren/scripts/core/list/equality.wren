var a = [1, 2]
var b = [1, 2]
System.print(a == b) // expect: false
System.print(a == a) // expect: true
System.print(a != b) // expect: true
System.print([] == []) // expect: false
