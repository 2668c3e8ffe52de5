// For loops over ranges and lists, with list appends.

var start = System.clock

var list = []
for (i in 0...2000000) list.add(i)

var sum = 0
for (i in list) sum = sum + i

var evens = 0
for (i in 0...list.count) {
  if (list[i] % 2 == 0) evens = evens + 1
}

System.print(sum)
System.print(evens)
System.print("elapsed: %(System.clock - start)")
