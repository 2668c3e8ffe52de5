var check = Fn.new {|fn| System.print(Fiber.new(fn).try()) }
var m = {}
check.call { m[[1]] } // expect: Key must be a value type.
check.call { m[[1]] = 1 } // expect: Key must be a value type.
check.call { m[{}] = 1 } // expect: Key must be a value type.
check.call { m.containsKey([]) } // expect: Key must be a value type.
check.call { m.remove([]) } // expect: Key must be a value type.
check.call { m[Fn.new {}] = 1 } // expect: Key must be a value type.
check.call { {[1]: 2} } // expect: Key must be a value type.
System.print(m.count) // expect: 0
