System.print(Fiber.new { Fiber.abort(123) }.try()) // expect: 123
System.print(Fiber.new { Fiber.abort([1, 2]) }.try()) // expect: [1, 2]
var f = Fiber.new { Fiber.abort(false) }
System.print(f.try()) // expect: false
System.print(f.error) // expect: false
var g = Fiber.new {
  Fiber.abort(null)
  return "abort(null) does nothing"
}
System.print(g.try()) // expect: abort(null) does nothing
System.print(g.error) // expect: null
class Problem {
  construct new(code) { _code = code }
  code { _code }
}
var p = Fiber.new { Fiber.abort(Problem.new(7)) }.try()
System.print(p.code) // expect: 7
