System.print(String.fromCodePoint(65)) // expect: A
System.print(String.fromCodePoint(233)) // expect: é
System.print(String.fromCodePoint(8364)) // expect: €
System.print(String.fromCodePoint(128512)) // expect: 😀
System.print(String.fromCodePoint(0).bytes.count) // expect: 1
System.print(String.fromCodePoint(0x10ffff).bytes.count) // expect: 4
var check = Fn.new {|fn| System.print(Fiber.new(fn).try()) }
check.call { String.fromCodePoint("a") } // expect: Code point must be a number.
check.call { String.fromCodePoint(1.5) } // expect: Code point must be an integer.
check.call { String.fromCodePoint(-1) } // expect: Code point cannot be negative.
check.call { String.fromCodePoint(0x110000) } // expect: Code point cannot be greater than 0x10ffff.
