System.print("a") // expect: a
if (true) return "ignored"
System.print("b")
