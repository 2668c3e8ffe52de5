var list = []
for (i in 0...10000) list.add(i)
System.print(list.count) // expect: 10000
System.print(list[9999]) // expect: 9999
var sum = 0
for (x in list) sum = sum + x
System.print(sum) // expect: 49995000
while (list.count > 10) list.removeAt(0)
System.print(list) // expect: [9990, 9991, 9992, 9993, 9994, 9995, 9996, 9997, 9998, 9999]
