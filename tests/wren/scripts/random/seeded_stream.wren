import "random" for Random
var a = Random.new(12345)
var b = Random.new(12345)
var same = true
for (i in 1..100) if (a.float() != b.float()) same = false
System.print(same) // expect: true
var c = Random.new([1, 2, 3])
var d = Random.new([1, 2, 3])
System.print(c.int(1000) == d.int(1000)) // expect: true
var e = Random.new(1)
var f = Random.new(2)
var differ = false
for (i in 1..10) if (e.float() != f.float()) differ = true
System.print(differ) // expect: true
