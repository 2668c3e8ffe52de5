var f = Fiber.new {}
f.call()
f.call() // expect runtime error: Cannot call a finished fiber.
