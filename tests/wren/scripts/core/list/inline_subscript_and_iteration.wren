// list[i], list.iterate/iteratorValue and range.iterate/iteratorValue on their
// usual arguments run inline; every other argument gets the primitive's answer.
var list = ["a", "b", "c"]
System.print(list[0] + list[2] + list[-1]) // expect: acc
System.print(list.iterate(null)) // expect: 0
System.print(list.iterate(1)) // expect: 2
System.print(list.iterate(2)) // expect: false
System.print(list.iterate(5)) // expect: false
System.print(list.iterate(-1)) // expect: false
System.print([].iterate(null)) // expect: false
System.print(list.iteratorValue(1)) // expect: b
System.print(list[0..1]) // expect: [a, b]
System.print((1..3).iterate(null)) // expect: 1
System.print((1..3).iterate(3)) // expect: false
System.print((3..1).iterate(2)) // expect: 1
System.print((1...1).iterate(null)) // expect: false
System.print((1...3).iterate(1.5)) // expect: 2.5
System.print((1..3).iteratorValue("any")) // expect: any
var seen = []
for (i in 3..1) seen.add(i)
for (i in 0...0) seen.add("never")
for (x in list) seen.add(x)
System.print(seen) // expect: [3, 2, 1, a, b, c]
var grown = [1]
for (x in grown) if (grown.count < 4) grown.add(x + 1)
System.print(grown) // expect: [1, 2, 3, 4]
System.print(Fiber.new { list[1.5] }.try()) // expect: Subscript must be an integer.
System.print(Fiber.new { list[3] }.try()) // expect: Subscript out of bounds.
System.print(Fiber.new { list["x"] }.try()) // expect: Subscript must be a number or a range.
System.print(Fiber.new { list.iterate(0.5) }.try()) // expect: Iterator must be an integer.
System.print(Fiber.new { list.iteratorValue(3) }.try()) // expect: Iterator out of bounds.
System.print(Fiber.new { (1..2).iterate("x") }.try()) // expect: Iterator must be a number.
list[-4] // expect runtime error: Subscript out of bounds.
