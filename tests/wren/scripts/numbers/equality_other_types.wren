System.print(1 == "1") // expect: false
System.print(1 != "1") // expect: true
System.print(0 == null) // expect: false
System.print(1 == true) // expect: false
System.print(1 == [1]) // expect: false
