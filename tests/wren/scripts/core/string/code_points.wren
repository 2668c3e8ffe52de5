System.print("abc".codePoints.toList) // expect: [97, 98, 99]
System.print("aé€😀".codePoints.toList) // expect: [97, 233, 8364, 128512]
System.print("héllo".codePoints[1]) // expect: 233
System.print("héllo".codePoints[2]) // expect: -1
System.print("héllo".codePoints[0]) // expect: 104
System.print("héllo".codePoints.count) // expect: 5
System.print("abc".codePoints.type) // expect: StringCodePointSequence
