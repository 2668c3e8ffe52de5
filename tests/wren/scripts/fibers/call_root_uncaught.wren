Fiber.current.call() // expect runtime error: Cannot call root fiber.
