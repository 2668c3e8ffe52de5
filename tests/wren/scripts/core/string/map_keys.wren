var m = {}
m["ab"] = 1
System.print(m["a" + "b"]) // expect: 1
m["é"] = 2
System.print(m["\u00e9"]) // expect: 2
System.print(m.containsKey("a")) // expect: false
