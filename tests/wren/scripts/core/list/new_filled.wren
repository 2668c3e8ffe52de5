System.print(List.new()) // expect: []
System.print(List.new().count) // expect: 0
System.print(List.filled(3, 0)) // expect: [0, 0, 0]
System.print(List.filled(0, 1)) // expect: []
System.print(List.filled(2, "x")) // expect: [x, x]
var shared = List.filled(2, [])
shared[0].add(1)
System.print(shared) // expect: [[1], [1]]
var check = Fn.new {|fn| System.print(Fiber.new(fn).try()) }
check.call { List.filled(-1, 0) } // expect: Size cannot be negative.
check.call { List.filled(1.5, 0) } // expect: Size must be an integer.
check.call { List.filled("a", 0) } // expect: Size must be a number.
