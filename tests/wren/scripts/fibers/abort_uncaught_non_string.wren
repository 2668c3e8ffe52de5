Fiber.abort(42) // expect runtime error: [error object]
