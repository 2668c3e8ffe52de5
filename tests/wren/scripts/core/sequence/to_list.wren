System.print((1..3).toList) // expect: [1, 2, 3]
var a = [1]
var b = a.toList
b.add(2)
System.print(a) // expect: [1]
System.print(b) // expect: [1, 2]
System.print("ab".toList) // expect: [a, b]
System.print([].toList) // expect: []
