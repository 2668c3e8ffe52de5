import "random" for Random
var a = Random.new([5])
var b = Random.new([5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5])
var same = true
for (i in 1..20) if (a.float() != b.float()) same = false
System.print(same) // expect: true
var c = Random.new((1..16).toList + [99])
var d = Random.new((1..16).toList)
same = true
for (i in 1..20) if (c.float() != d.float()) same = false
System.print(same) // expect: true
