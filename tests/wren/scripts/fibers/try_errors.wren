var done = Fiber.new {}
done.call()
var aborted = Fiber.new { Fiber.abort("x") }
aborted.try()
System.print(Fiber.new { done.try() }.try()) // expect: Cannot try a finished fiber.
System.print(Fiber.new { aborted.try() }.try()) // expect: Cannot try an aborted fiber.
