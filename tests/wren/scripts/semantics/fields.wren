class Point {
  construct new(x, y) {
    _x = x
    _y = y
  }
  x { _x }
  y { _y }
  unset { _neverAssigned }
  move(dx) { _x = _x + dx }
  toString { "(%(_x), %(_y))" }
}
var p = Point.new(1, 2)
System.print(p.x) // expect: 1
System.print(p.y) // expect: 2
System.print(p.unset) // expect: null
p.move(5)
System.print(p) // expect: (6, 2)
var q = Point.new(3, 4)
System.print(q) // expect: (3, 4)
System.print(p) // expect: (6, 2)
