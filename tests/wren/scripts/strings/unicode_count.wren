System.print("hello".count) // expect: 5
System.print("héllo".count) // expect: 5
System.print("héllo".bytes.count) // expect: 6
System.print("日本語".count) // expect: 3
System.print("日本語".bytes.count) // expect: 9
System.print("".count) // expect: 0
System.print("\xff\xfe".count) // expect: 2
System.print("a\xffb".count) // expect: 3
