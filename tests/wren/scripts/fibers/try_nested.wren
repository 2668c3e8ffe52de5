var inner = Fiber.new { Fiber.abort("inner failed") }
var outer = Fiber.new {
  inner.call()
  System.print("never")
}
System.print(outer.try()) // expect: inner failed
System.print(inner.error) // expect: inner failed
System.print(outer.error) // expect: inner failed
System.print(inner.isDone) // expect: true
var catcher = Fiber.new {
  var r = Fiber.new { Fiber.abort("caught inside") }.try()
  return "catcher saw: " + r
}
System.print(catcher.call()) // expect: catcher saw: caught inside
System.print(catcher.error) // expect: null
