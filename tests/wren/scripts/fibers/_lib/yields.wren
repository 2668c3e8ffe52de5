System.print("module start")
Fiber.yield("from module")
System.print("module end")
