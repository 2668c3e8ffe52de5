var live = 0
for (round in 1..20) {
  var batch = []
  for (i in 1..1000) batch.add([i, i.toString, 1..i])
  live = batch.count
}
System.print(live) // expect: 1000
