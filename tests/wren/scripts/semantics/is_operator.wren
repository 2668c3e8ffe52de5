System.print(1 is Num) // expect: true
System.print(1 is Object) // expect: true
System.print(1 is String) // expect: false
System.print("s" is String) // expect: true
System.print("s" is Sequence) // expect: true
System.print([] is Sequence) // expect: true
System.print({} is Sequence) // expect: true
System.print((1..2) is Sequence) // expect: true
System.print(null is Null) // expect: true
System.print(null is Object) // expect: true
System.print(true is Bool) // expect: true
System.print(Num is Class) // expect: true
System.print(Num is Object) // expect: true
System.print(Fn.new {} is Fn) // expect: true
System.print(Fiber.current is Fiber) // expect: true
System.print(Object is Class) // expect: true
System.print(Class is Class) // expect: true
