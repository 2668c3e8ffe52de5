var list = [1]
list.addAll([2, 3])
list.addAll(4..5)
list.addAll("ab")
System.print(list) // expect: [1, 2, 3, 4, 5, a, b]
list.addAll([])
System.print(list.count) // expect: 7
var self = [1, 2]
self.addAll(self.toList)
System.print(self) // expect: [1, 2, 1, 2]
