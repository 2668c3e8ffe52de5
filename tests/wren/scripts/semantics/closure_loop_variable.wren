var fns = []
for (i in 1..3) fns.add(Fn.new { i })
for (f in fns) System.print(f.call())
// expect: 1
// expect: 2
// expect: 3
var whileFns = []
var n = 0
while (n < 3) {
  var k = n * 10
  whileFns.add(Fn.new { k })
  n = n + 1
}
for (f in whileFns) System.print(f.call())
// expect: 0
// expect: 10
// expect: 20
