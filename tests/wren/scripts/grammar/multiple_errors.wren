var a = 1
var a = 2 // expect error
System.print("ok")
break // expect error