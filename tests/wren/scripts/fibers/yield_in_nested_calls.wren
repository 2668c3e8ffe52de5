class Walker {
  static walk(depth) {
    if (depth == 0) {
      Fiber.yield("bottom")
      return "returned"
    }
    return walk(depth - 1)
  }
}
var f = Fiber.new { Walker.walk(50) }
System.print(f.call()) // expect: bottom
System.print(f.call()) // expect: returned
System.print(f.isDone) // expect: true
