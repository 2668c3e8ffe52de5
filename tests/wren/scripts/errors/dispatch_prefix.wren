var s = "a"
System.print(-s) // expect runtime error: String does not implement '-'.
