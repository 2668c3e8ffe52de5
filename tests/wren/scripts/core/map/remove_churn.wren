// Many inserts and removes leave no empty slot behind; lookups must still end.
var m = {}
for (i in 0...2000) {
  m[i] = i
  m.remove(i)
}
System.print(m.containsKey(5000)) // expect: false
System.print(m.count) // expect: 0
m["a"] = 1
for (i in 0...200) {
  m[i] = i
  m.remove(i)
}
System.print(m["a"]) // expect: 1
System.print(m[12345]) // expect: null
