System.print("abc" == "abc") // expect: true
System.print("abc" == "abd") // expect: false
System.print("abc" == "ab") // expect: false
System.print("" == "") // expect: true
System.print("a\0b" == "a\0c") // expect: false
System.print("a\0b" == "a\0b") // expect: true
System.print("a" != "b") // expect: true
System.print("1" == 1) // expect: false
