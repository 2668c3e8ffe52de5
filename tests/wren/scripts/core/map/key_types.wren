var m = {}
m[1] = "num"
m["1"] = "string"
m[true] = "true"
m[false] = "false"
m[null] = "null"
m[1..2] = "range"
m[List] = "class"
System.print(m[1]) // expect: num
System.print(m["1"]) // expect: string
System.print(m[true]) // expect: true
System.print(m[false]) // expect: false
System.print(m[null]) // expect: null
System.print(m[1..2]) // expect: range
System.print(m[1...2]) // expect: null
System.print(m[List]) // expect: class
System.print(m[Map]) // expect: null
System.print(m[1.0]) // expect: num
System.print(m[0.5 + 0.5]) // expect: num
System.print(m.count) // expect: 7
