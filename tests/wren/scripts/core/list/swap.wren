var list = [1, 2, 3]
list.swap(0, 2)
System.print(list) // expect: [3, 2, 1]
list.swap(-1, 0)
System.print(list) // expect: [1, 2, 3]
list.swap(1, 1)
System.print(list) // expect: [1, 2, 3]
var check = Fn.new {|fn| System.print(Fiber.new(fn).try()) }
check.call { list.swap(0, 5) } // expect: Index 1 out of bounds.
check.call { list.swap(9, 0) } // expect: Index 0 out of bounds.
check.call { list.swap(0.5, 0) } // expect: Index 0 must be an integer.
check.call { list.swap(0, 1.5) } // expect: Index 1 must be an integer.
