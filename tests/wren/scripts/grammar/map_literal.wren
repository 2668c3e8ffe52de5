System.print({}) // expect: {}
System.print({"a": 1}) // expect: {a: 1}
System.print({1: "one",}) // expect: {1: one}
System.print({"nested": {"x": [1]}}) // expect: {nested: {x: [1]}}
var key = "k"
System.print({key: key + "v"}) // expect: {k: kv}
var m = {
  1: "a",
  2: "b",
}
System.print(m[2]) // expect: b
System.print(m.count) // expect: 2
