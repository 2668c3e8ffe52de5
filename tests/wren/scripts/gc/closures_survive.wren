var makers = []
for (i in 1..100) {
  var captured = "value %(i)"
  makers.add(Fn.new { captured })
}
for (i in 1..1000) {
  var garbage = [i, "garbage %(i)", {i: i}]
}
System.gc()
System.print(makers[0].call()) // expect: value 1
System.print(makers[99].call()) // expect: value 100
