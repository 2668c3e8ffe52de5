System.print(0x0) // expect: 0
System.print(0xff) // expect: 255
System.print(0xFF) // expect: 255
System.print(0x10) // expect: 16
System.print(0xdeadBEEF) // expect: 3735928559
System.print(-0x10) // expect: -16
System.print(0x7fffffff) // expect: 2147483647
