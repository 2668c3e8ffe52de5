System.print(true || false && false) // expect: true
System.print(false && true || true) // expect: true
System.print(!true == false) // expect: true
System.print(1 < 2 == 2 < 3) // expect: true
System.print(null is Null == true) // expect: true
System.print(1 < 2 is Bool) // expect: true
System.print(1 == 1 && 2 == 2) // expect: true
System.print(false ? 1 : 2 + 3) // expect: 5
System.print(true ? 1 : false ? 2 : 3) // expect: 1
System.print(false ? 1 : false ? 2 : 3) // expect: 3
System.print(false ? 1 : true ? 2 : 3) // expect: 2
System.print(true ? (false ? "a" : "b") : "c") // expect: b
