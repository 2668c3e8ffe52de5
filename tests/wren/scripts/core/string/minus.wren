System.print("abc" - "c") // expect runtime error: String does not implement '-(_)'.
