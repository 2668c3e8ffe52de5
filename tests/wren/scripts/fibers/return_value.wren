System.print(Fiber.new { 42 }.call()) // expect: 42
System.print(Fiber.new {}.call()) // expect: null
var f = Fiber.new {
  return "explicit"
}
System.print(f.call()) // expect: explicit
