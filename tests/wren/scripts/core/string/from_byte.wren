System.print(String.fromByte(65)) // expect: A
System.print(String.fromByte(255).bytes.toList) // expect: [255]
System.print(String.fromByte(0).count) // expect: 1
var check = Fn.new {|fn| System.print(Fiber.new(fn).try()) }
check.call { String.fromByte("a") } // expect: Byte must be a number.
check.call { String.fromByte(1.5) } // expect: Byte must be an integer.
check.call { String.fromByte(-1) } // expect: Byte cannot be negative.
check.call { String.fromByte(256) } // expect: Byte cannot be greater than 0xff.
