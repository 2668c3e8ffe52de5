import "random" for Random
var r = Random.new(99)
var seen = {}
var ok = true
for (i in 1..1000) {
  var x = r.int(10)
  if (!x.isInteger || x < 0 || x >= 10) ok = false
  seen[x] = true
}
System.print(ok) // expect: true
System.print(seen.count) // expect: 10
ok = true
for (i in 1..1000) {
  var x = r.int(-3, 3)
  if (!x.isInteger || x < -3 || x >= 3) ok = false
}
System.print(ok) // expect: true
var big = r.int()
System.print(big.isInteger && big >= 0) // expect: true
