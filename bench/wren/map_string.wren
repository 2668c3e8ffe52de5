// Maps keyed by strings: build the keys, then insert and look them up.

var start = System.clock

var keys = []
for (i in 0...60000) keys.add("key number %(i)")

var map = {}
for (round in 1..3) {
  for (i in 0...keys.count) map[keys[i]] = i + round
}

var sum = 0
for (key in keys) sum = sum + map[key]

var missing = 0
for (i in 0...60000) {
  if (!map.containsKey("absent %(i)")) missing = missing + 1
}

System.print(sum)
System.print(map.count)
System.print(missing)
System.print("elapsed: %(System.clock - start)")
