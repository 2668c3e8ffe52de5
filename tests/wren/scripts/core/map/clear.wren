var m = {1: 2, 3: 4}
m.clear()
System.print(m) // expect: {}
System.print(m.count) // expect: 0
System.print(m[1]) // expect: null
m[5] = 6
System.print(m) // expect: {5: 6}
