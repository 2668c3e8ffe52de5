import "random" for Random
var r = Random.new(11)
var list = (1..20).toList
r.shuffle(list)
System.print(list.count) // expect: 20
list.sort()
System.print(list == (1..20).toList) // expect: false
System.print(list.join(",")) // expect: 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20
var empty = []
r.shuffle(empty)
System.print(empty) // expect: []
var one = ["x"]
r.shuffle(one)
System.print(one) // expect: [x]
