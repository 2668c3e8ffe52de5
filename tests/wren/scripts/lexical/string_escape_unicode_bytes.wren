System.print("\u00e9".bytes.toList) // expect: [195, 169]
System.print("\u20ac".bytes.toList) // expect: [226, 130, 172]
System.print("\U0001F600".bytes.toList) // expect: [240, 159, 152, 128]
System.print("\U0001F600".count) // expect: 1
System.print("\u0041") // expect: A
System.print("a\0b".count) // expect: 3
System.print("a\0b".bytes.count) // expect: 3
