// The victim keeps its secret and a counter in its site's cache.
Cache.set("secret", Fs.read("_secret.txt"))
Cache.set("counter", 10)
System.print("stored")
