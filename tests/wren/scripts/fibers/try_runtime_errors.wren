System.print(Fiber.new { 1 + "a" }.try()) // expect: Right operand must be a number.
System.print(Fiber.new { null.foo }.try()) // expect: Null does not implement 'foo'.
System.print(Fiber.new { [].reduce {|a, b| a } }.try()) // expect: Can't reduce an empty sequence.
System.print(Fiber.new { [1][5] }.try()) // expect: Subscript out of bounds.
class Deep {
  static fail(n) { n == 0 ? Fiber.abort("deep failure") : fail(n - 1) }
}
System.print(Fiber.new { Deep.fail(20) }.try()) // expect: deep failure
System.print("still running") // expect: still running
