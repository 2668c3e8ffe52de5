var list = []
System.print(list.add(1)) // expect: 1
list.add("two")
list.add([3])
System.print(list) // expect: [1, two, [3]]
System.print(list.count) // expect: 3
list.add(list.count)
System.print(list[-1]) // expect: 3
