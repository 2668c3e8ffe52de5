var s = "a\xffb"
System.print(s.bytes.toList) // expect: [97, 255, 98]
System.print(s.codePoints.toList) // expect: [97, -1, 98]
System.print(s[1].bytes.toList) // expect: [255]
System.print(s.count) // expect: 3
var chars = []
for (c in s) chars.add(c.bytes[0])
System.print(chars) // expect: [97, 255, 98]
