var list = [1, 2, 3]
list.insert(0, 0)
System.print(list) // expect: [0, 1, 2, 3]
list.insert(4, 4)
System.print(list) // expect: [0, 1, 2, 3, 4]
list.insert(-1, 5)
System.print(list) // expect: [0, 1, 2, 3, 4, 5]
list.insert(-2, "x")
System.print(list) // expect: [0, 1, 2, 3, 4, x, 5]
System.print(list.insert(1, "r")) // expect: r
var empty = []
empty.insert(0, "only")
System.print(empty) // expect: [only]
var check = Fn.new {|fn| System.print(Fiber.new(fn).try()) }
check.call { [1].insert(3, 0) } // expect: Index out of bounds.
check.call { [1].insert(-3, 0) } // expect: Index out of bounds.
check.call { [1].insert(1.5, 0) } // expect: Index must be an integer.
check.call { [1].insert("a", 0) } // expect: Index must be a number.
