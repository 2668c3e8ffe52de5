class Point {
  construct new(x, y) {
    _x = x
    _y = y
  }
  toString { "(%(_x), %(_y))" }
}
System.print("p = %(Point.new(1, 2))") // expect: p = (1, 2)
System.print("list %([Point.new(3, 4)])") // expect: list [(3, 4)]
