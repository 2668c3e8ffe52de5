System.print(null.type) // expect: Null
System.print(true.type) // expect: Bool
System.print(1.type) // expect: Num
System.print("s".type) // expect: String
System.print([].type) // expect: List
System.print({}.type) // expect: Map
System.print((1..2).type) // expect: Range
System.print(Fn.new {}.type) // expect: Fn
System.print(Fiber.current.type) // expect: Fiber
System.print(Num.type) // expect: Num metaclass
System.print(Num.type.type) // expect: Class
System.print(Object.type) // expect: Object metaclass
System.print(Class.type) // expect: Class
