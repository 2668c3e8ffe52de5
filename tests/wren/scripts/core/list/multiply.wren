System.print([1, 2] * 2) // expect: [1, 2, 1, 2]
System.print([1] * 0) // expect: []
System.print([] * 5) // expect: []
System.print([[1]] * 2) // expect: [[1], [1]]
var check = Fn.new {|fn| System.print(Fiber.new(fn).try()) }
check.call { [1] * -1 } // expect: Count must be a non-negative integer.
check.call { [1] * 1.5 } // expect: Count must be a non-negative integer.
check.call { [1] * "a" } // expect: Count must be a non-negative integer.
