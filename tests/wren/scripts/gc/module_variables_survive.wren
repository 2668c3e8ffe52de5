var Kept = []
for (i in 1..100) Kept.add({"k": i})
System.gc()
for (i in 1..2000) {
  var tmp = "t%(i)"
}
System.gc()
System.print(Kept[50]["k"]) // expect: 51
