System.print(!null) // expect: true
System.print(!false) // expect: true
System.print(!true) // expect: false
System.print(!0) // expect: false
System.print(!"") // expect: false
System.print(![]) // expect: false
System.print(!{}) // expect: false
System.print(!Object) // expect: false
if (0) System.print("0 is truthy") // expect: 0 is truthy
if ("") System.print("empty string is truthy") // expect: empty string is truthy
if ([]) System.print("empty list is truthy") // expect: empty list is truthy
if (null) System.print("no") else System.print("null is falsy") // expect: null is falsy
if (false) System.print("no") else System.print("false is falsy") // expect: false is falsy
