import "random" for Random
var r = Random.new()
var x = r.float()
System.print(x >= 0 && x < 1) // expect: true
System.print(r is Random) // expect: true
