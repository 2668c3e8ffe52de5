var keep = []
for (i in 1..1000) keep.add("item %(i)")
System.gc()
System.print(keep[999]) // expect: item 1000
System.gc()
System.gc()
System.print(keep.count) // expect: 1000
