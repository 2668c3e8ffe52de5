// Maps keyed by numbers: insert, look up and remove.

var start = System.clock

var map = {}
for (i in 1..500000) map[i] = i

var sum = 0
for (i in 1..500000) sum = sum + map[i]

for (i in 1..500000) {
  if (i % 2 == 0) map.remove(i)
}

System.print(sum)
System.print(map.count)
System.print("elapsed: %(System.clock - start)")
