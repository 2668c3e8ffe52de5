System.print(Fiber.current is Fiber) // expect: true
var main = Fiber.current
var f = Fiber.new { Fiber.current }
var inside = f.call()
System.print(inside == f) // expect: true
System.print(inside == main) // expect: false
System.print(Fiber.current == main) // expect: true
