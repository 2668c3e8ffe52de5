var fns = []
for (i in 1..5) {
  var j = i * 10
  fns.add(Fn.new { j })
  if (i == 2) break
}
for (f in fns) System.print(f.call())
// expect: 10
// expect: 20
var more = []
for (i in 1..4) {
  var j = i
  more.add(Fn.new { j })
  if (i % 2 == 0) continue
  j = j * 100
}
for (f in more) System.print(f.call())
// expect: 100
// expect: 2
// expect: 300
// expect: 4
