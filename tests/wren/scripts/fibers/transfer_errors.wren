var done = Fiber.new {}
done.call()
var aborted = Fiber.new { Fiber.abort("x") }
aborted.try()
System.print(Fiber.new { done.transfer() }.try()) // expect: Cannot transfer to a finished fiber.
System.print(Fiber.new { aborted.transfer() }.try()) // expect: Cannot transfer to an aborted fiber.
System.print(Fiber.new { done.transfer(1) }.try()) // expect: Cannot transfer to a finished fiber.
