var strings = []
var s = ""
for (i in 1..2000) {
  s = s + "x"
  if (i % 100 == 0) strings.add(s)
}
System.print(s.count) // expect: 2000
System.print(strings.count) // expect: 20
System.print(strings[19].count) // expect: 2000
var lists = []
for (i in 1..200) {
  var l = []
  for (j in 1..i) l.add(j)
  lists.add(l)
}
System.gc()
var sum = 0
for (l in lists) sum = sum + l.count
System.print(sum) // expect: 20100
var m = {}
for (i in 1..5000) m[i] = [i]
for (i in 1..5000) m.remove(i)
System.gc()
System.print(m.count) // expect: 0
