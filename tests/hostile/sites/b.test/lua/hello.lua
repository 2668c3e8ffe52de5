print("hello from b.test in lua")
