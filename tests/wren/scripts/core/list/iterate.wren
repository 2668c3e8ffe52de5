System.print([1, 2].iterate(null)) // expect: 0
System.print([1, 2].iterate(0)) // expect: 1
System.print([1, 2].iterate(1)) // expect: false
System.print([].iterate(null)) // expect: false
System.print([1, 2].iterate(-1)) // expect: false
System.print([1, 2].iterate(5)) // expect: false
System.print([1, 2].iteratorValue(1)) // expect: 2
var check = Fn.new {|fn| System.print(Fiber.new(fn).try()) }
check.call { [1, 2].iterate("a") } // expect: Iterator must be a number.
check.call { [1, 2].iterate(1.5) } // expect: Iterator must be an integer.
check.call { [1, 2].iteratorValue(2) } // expect: Iterator out of bounds.
check.call { [1, 2].iteratorValue("a") } // expect: Iterator must be a number.
check.call { [1, 2].iteratorValue(0.5) } // expect: Iterator must be an integer.
