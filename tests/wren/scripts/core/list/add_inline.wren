// list.add(x) runs inline while the list has room and through the primitive
// when it grows; a user class's add(_) is its own method.
var l = []
var results = []
for (i in 0...20) results.add(l.add(i))
System.print(l) // expect: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19]
System.print(results == l) // expect: false
System.print(results.count) // expect: 20
System.print([1].add([2])) // expect: [2]
class Bag {
  construct new() { _n = 0 }
  add(x) { _n = _n + x }
  n { _n }
}
var b = Bag.new()
System.print(b.add(3)) // expect: 3
b.add(4)
System.print(b.n) // expect: 7
System.print(Fiber.new { 1.add(2) }.try()) // expect: Num does not implement 'add(_)'.
