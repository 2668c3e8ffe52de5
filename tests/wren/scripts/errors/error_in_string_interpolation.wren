var x = null
System.print("value: %(x.length)") // expect runtime error: Null does not implement 'length'.
