var list = [1, 2, 3, 4]
System.print(list.removeAt(1)) // expect: 2
System.print(list) // expect: [1, 3, 4]
System.print(list.removeAt(-1)) // expect: 4
System.print(list) // expect: [1, 3]
System.print(list.removeAt(0)) // expect: 1
System.print(list) // expect: [3]
var check = Fn.new {|fn| System.print(Fiber.new(fn).try()) }
check.call { [1].removeAt(1) } // expect: Index out of bounds.
check.call { [1].removeAt(-2) } // expect: Index out of bounds.
check.call { [1].removeAt(0.5) } // expect: Index must be an integer.
check.call { [1].removeAt("a") } // expect: Index must be a number.
check.call { [].removeAt(0) } // expect: Index out of bounds.
