System.print([1, 2] + [3]) // expect: [1, 2, 3]
System.print([1] + (2..3)) // expect: [1, 2, 3]
System.print([] + []) // expect: []
System.print([1] + "ab") // expect: [1, a, b]
var a = [1]
var b = a + [2]
System.print(a) // expect: [1]
System.print(b) // expect: [1, 2]
System.print(Fiber.new { [1] + 1 }.try()) // expect: Num does not implement 'iterate(_)'.
