var f = Fiber.new {}
System.print(f) // expect: instance of Fiber
System.print(f.type) // expect: Fiber
System.print(f is Fiber) // expect: true
System.print(f.error) // expect: null
