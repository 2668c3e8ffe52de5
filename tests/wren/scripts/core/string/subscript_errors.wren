var check = Fn.new {|fn| System.print(Fiber.new(fn).try()) }
check.call { "abc"[3] } // expect: Subscript out of bounds.
check.call { "abc"[-4] } // expect: Subscript out of bounds.
check.call { "abc"[1.5] } // expect: Subscript must be an integer.
check.call { "abc"["x"] } // expect: Subscript must be a number or a range.
check.call { "abc"[null] } // expect: Subscript must be a number or a range.
check.call { "abc"[5..6] } // expect: Range start out of bounds.
check.call { "abc"[0..5] } // expect: Range end out of bounds.
check.call { "abc"[0.5..1] } // expect: Range start must be an integer.
check.call { "abc"[0..1.5] } // expect: Range end must be an integer.
