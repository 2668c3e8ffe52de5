System.print([1, 2, 3].all {|x| x > 0 }) // expect: true
System.print([1, 2, 3].all {|x| x > 1 }) // expect: false
System.print([].all {|x| false }) // expect: true
System.print([1, 2, 3].any {|x| x > 2 }) // expect: true
System.print([1, 2, 3].any {|x| x > 3 }) // expect: false
System.print([].any {|x| true }) // expect: false
var seen = []
[1, 2, 3, 4].all {|x|
  seen.add(x)
  return x < 2
}
System.print(seen) // expect: [1, 2]
seen = []
[1, 2, 3, 4].any {|x|
  seen.add(x)
  return x == 3
}
System.print(seen) // expect: [1, 2, 3]
