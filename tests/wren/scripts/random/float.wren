import "random" for Random
var r = Random.new(7)
var ok = true
for (i in 1..1000) {
  var x = r.float()
  if (!(x is Num) || x < 0 || x >= 1) ok = false
}
System.print(ok) // expect: true
ok = true
for (i in 1..1000) {
  var x = r.float(5)
  if (x < 0 || x >= 5) ok = false
}
System.print(ok) // expect: true
ok = true
for (i in 1..1000) {
  var x = r.float(2, 4)
  if (x < 2 || x >= 4) ok = false
}
System.print(ok) // expect: true
var sum = 0
for (i in 1..10000) sum = sum + r.float()
System.print(sum / 10000 > 0.45 && sum / 10000 < 0.55) // expect: true
