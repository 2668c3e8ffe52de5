var out = []
for (c in "héllo") out.add(c)
System.print(out) // expect: [h, é, l, l, o]
System.print("abc".toList) // expect: [a, b, c]
System.print("日本".toList) // expect: [日, 本]
System.print("".toList) // expect: []
