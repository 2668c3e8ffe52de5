var m = {}
m["a"] = 1
m["b"] = 2
System.print(m["a"]) // expect: 1
System.print(m["missing"]) // expect: null
System.print(m.count) // expect: 2
m["a"] = 10
System.print(m["a"]) // expect: 10
System.print(m.count) // expect: 2
System.print(m.containsKey("b")) // expect: true
System.print(m.containsKey("c")) // expect: false
System.print(m.isEmpty) // expect: false
System.print({}.isEmpty) // expect: true
System.print(Map.new()) // expect: {}
System.print(Map.new().count) // expect: 0
System.print(m["c"] = 3) // expect: 3
