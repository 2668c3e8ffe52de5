var m = {}
System.print(m + 1) // expect runtime error: Map does not implement '+(_)'.
