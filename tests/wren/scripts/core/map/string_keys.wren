// String keys are found by content (another String object with the same bytes),
// beside keys of other types with the same hash slots, and after removals.
var map = {}
for (i in 0...200) map["key %(i)"] = i
map[1] = "one"
map[true] = "yes"
map[1..2] = "range"
System.print(map["key " + "7"]) // expect: 7
System.print(map["key 199"]) // expect: 199
System.print(map["key 200"]) // expect: null
System.print([map[1], map[true], map[1..2]]) // expect: [one, yes, range]
for (i in 0...200) if (i % 3 != 0) map.remove("key %(i)")
System.print(map.count) // expect: 70
System.print(map.containsKey("key 3")) // expect: true
System.print(map.containsKey("key 4")) // expect: false
map["key 4"] = "again"
System.print(map["key 4"]) // expect: again
System.print(map[""]) // expect: null
map[""] = "empty"
System.print(map["" + ""]) // expect: empty
