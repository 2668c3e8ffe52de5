System.print("hello from b.test in wren")
