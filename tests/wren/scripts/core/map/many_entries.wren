var m = {}
for (i in 1..1000) m[i] = i * i
System.print(m.count) // expect: 1000
System.print(m[500]) // expect: 250000
var ok = true
for (i in 1..1000) if (m[i] != i * i) ok = false
System.print(ok) // expect: true
for (i in 1..1000) if (i % 2 == 0) m.remove(i)
System.print(m.count) // expect: 500
System.print(m[2]) // expect: null
System.print(m[999]) // expect: 998001
for (i in 1..1000) m["k%(i)"] = i
System.print(m.count) // expect: 1500
System.print(m["k1000"]) // expect: 1000
var total = 0
for (entry in m) total = total + 1
System.print(total) // expect: 1500
