var m = {"a": 1, "b": 2}
System.print(m.remove("a")) // expect: 1
System.print(m.count) // expect: 1
System.print(m.containsKey("a")) // expect: false
System.print(m["a"]) // expect: null
System.print(m.remove("zz")) // expect: null
System.print(m.count) // expect: 1
System.print(m) // expect: {b: 2}
m["a"] = 3
System.print(m.count) // expect: 2
System.print(m["a"]) // expect: 3
