System.print("abc".bytes.toList) // expect: [97, 98, 99]
System.print("abc".bytes[0]) // expect: 97
System.print("abc".bytes[-1]) // expect: 99
System.print("é".bytes[1]) // expect: 169
System.print("héllo".bytes.count) // expect: 6
System.print("".bytes.count) // expect: 0
System.print("abc".bytes.map {|b| b + 1 }.toList) // expect: [98, 99, 100]
System.print("abc".bytes.type) // expect: StringByteSequence
System.print(Fiber.new { "abc".bytes[3] }.try()) // expect: Index out of bounds.
