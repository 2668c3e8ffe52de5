var check = Fn.new {|fn| System.print(Fiber.new(fn).try()) }
check.call { [1].skip(-1) } // expect: Count must be a non-negative integer.
check.call { [1].skip(1.5) } // expect: Count must be a non-negative integer.
check.call { [1].skip("a") } // expect: Count must be a non-negative integer.
check.call { [1].take(-1) } // expect: Count must be a non-negative integer.
check.call { [1].take(0.5) } // expect: Count must be a non-negative integer.
check.call { [1].take(null) } // expect: Count must be a non-negative integer.
