-- The victim keeps its secret and a counter in its site's cache.
cache.set("secret", fs.read("_secret.txt"))
cache.set("counter", 10)
print("stored")
