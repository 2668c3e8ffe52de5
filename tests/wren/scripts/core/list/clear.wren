var list = [1, 2, 3]
list.clear()
System.print(list) // expect: []
System.print(list.count) // expect: 0
list.add(4)
System.print(list) // expect: [4]
