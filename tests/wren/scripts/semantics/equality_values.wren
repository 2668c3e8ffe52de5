System.print(1 == 1) // expect: true
System.print(1 == 2) // expect: false
System.print(1 == 1.0) // expect: true
System.print("a" == "a") // expect: true
System.print("a" + "b" == "ab") // expect: true
System.print("a" == "b") // expect: false
System.print(null == null) // expect: true
System.print(true == true) // expect: true
System.print(true == false) // expect: false
System.print(1..2 == 1..2) // expect: true
System.print(1..2 == 1...2) // expect: false
System.print(1..3 == 1..2) // expect: false
System.print(1 == "1") // expect: false
System.print(null == false) // expect: false
System.print(0 == false) // expect: false
System.print(1 != 2) // expect: true
System.print("a" != "a") // expect: false
