System.print(true.toString) // expect: true
System.print(false.toString) // expect: false
System.print(!true) // expect: false
System.print(!false) // expect: true
System.print(true.type) // expect: Bool
System.print(true == true) // expect: true
System.print(true != false) // expect: true
System.print(true is Bool) // expect: true
System.print((!false).toString + "!") // expect: true!
