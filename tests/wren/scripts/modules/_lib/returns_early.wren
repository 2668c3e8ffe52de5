var Before = "before return"
if (true) return
System.print("never printed")
