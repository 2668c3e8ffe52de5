var done = Fiber.new {}
done.call()
var aborted = Fiber.new { Fiber.abort("x") }
aborted.try()
var Main = Fiber.current
var self
self = Fiber.new { self.call() }
System.print(Fiber.new { done.call() }.try()) // expect: Cannot call a finished fiber.
System.print(Fiber.new { aborted.call() }.try()) // expect: Cannot call an aborted fiber.
System.print(Fiber.new { Main.call() }.try()) // expect: Cannot call root fiber.
System.print(self.try()) // expect: Fiber has already been called.
System.print(Fiber.new { done.call(1) }.try()) // expect: Cannot call a finished fiber.
