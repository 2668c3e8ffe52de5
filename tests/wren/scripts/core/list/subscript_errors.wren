var check = Fn.new {|fn| System.print(Fiber.new(fn).try()) }
var list = [1, 2]
check.call { list[2] } // expect: Subscript out of bounds.
check.call { list[-3] } // expect: Subscript out of bounds.
check.call { list[1.5] } // expect: Subscript must be an integer.
check.call { list["a"] } // expect: Subscript must be a number or a range.
check.call { list[3..4] } // expect: Range start out of bounds.
check.call { list[0..2] } // expect: Range end out of bounds.
check.call { list[0.5..1] } // expect: Range start must be an integer.
check.call { list[0..0.5] } // expect: Range end must be an integer.
check.call { list[2] = 0 } // expect: Subscript out of bounds.
check.call { list["a"] = 0 } // expect: Subscript must be a number.
check.call { list[0.5] = 0 } // expect: Subscript must be an integer.
System.print(list) // expect: [1, 2]
