Fiber.new() // expect runtime error: Fiber metaclass does not implement 'new()'.
