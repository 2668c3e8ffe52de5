System.print("a\"b") // expect: a"b
System.print("back\\slash") // expect: back\slash
System.print("100\%") // expect: 100%
System.print("\x41\x42") // expect: AB
System.print("\u00e9") // expect: é
System.print("\u20AC") // expect: €
System.print("\U0001F600") // expect: 😀
System.print("\0".bytes[0]) // expect: 0
System.print("\a".bytes[0]) // expect: 7
System.print("\b".bytes[0]) // expect: 8
System.print("\e".bytes[0]) // expect: 27
System.print("\f".bytes[0]) // expect: 12
System.print("\n".bytes[0]) // expect: 10
System.print("\r".bytes[0]) // expect: 13
System.print("\t".bytes[0]) // expect: 9
System.print("\v".bytes[0]) // expect: 11
System.print("\xff".bytes[0]) // expect: 255
System.print("a\nb")
// expect: a
// expect: b
