import "random" for Random
var r = Random.new(3)
var list = [1, 2, 3, 4, 5]
var ok = true
for (i in 1..100) if (!list.contains(r.sample(list))) ok = false
System.print(ok) // expect: true
var three = r.sample(list, 3)
System.print(three.count) // expect: 3
var distinct = true
for (i in 0...3) {
  for (j in 0...3) {
    if (i != j && three[i] == three[j]) distinct = false
  }
}
System.print(distinct) // expect: true
System.print(three.all {|x| list.contains(x) }) // expect: true
var all = r.sample(list, 5)
all.sort()
System.print(all) // expect: [1, 2, 3, 4, 5]
System.print(r.sample(list, 0)) // expect: []
System.print(list) // expect: [1, 2, 3, 4, 5]
