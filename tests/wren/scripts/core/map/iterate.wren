var m = {"k": "v"}
for (entry in m) {
  System.print(entry) // expect: k:v
  System.print(entry.key) // expect: k
  System.print(entry.value) // expect: v
  System.print(entry.type) // expect: MapEntry
}
var nums = {1: 10, 2: 20, 3: 30}
var sum = 0
for (e in nums) sum = sum + e.key * e.value
System.print(sum) // expect: 140
System.print({}.iterate(null)) // expect: false
var first = m.iterate(null)
System.print(first is Num) // expect: true
System.print(m.iteratorValue(first).key) // expect: k
System.print(m.iterate(first)) // expect: false
