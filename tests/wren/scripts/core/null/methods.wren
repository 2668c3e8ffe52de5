System.print(null.toString) // expect: null
System.print(!null) // expect: true
System.print(null.type) // expect: Null
System.print(null == null) // expect: true
System.print(null != false) // expect: true
System.print(null is Null) // expect: true
System.print("%(null)") // expect: null
