var m = {1: "a", 2: "b", 3: "c"}
var keys = m.keys.toList
keys.sort()
System.print(keys) // expect: [1, 2, 3]
System.print(m.values.count) // expect: 3
System.print(m.keys.count) // expect: 3
System.print(m.values.contains("b")) // expect: true
System.print(m.keys.contains(4)) // expect: false
System.print(m.keys.type) // expect: MapKeySequence
System.print(m.values.type) // expect: MapValueSequence
System.print(m.keys.reduce {|a, b| a + b }) // expect: 6
var vals = m.values.toList
vals.sort {|a, b| a.bytes[0] < b.bytes[0] }
System.print(vals) // expect: [a, b, c]
System.print({}.keys.toList) // expect: []
