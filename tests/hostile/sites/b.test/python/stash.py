def handle(request, response):
    """The victim keeps its secret and a counter in its site's cache."""
    cache.set("secret", fs.read("_secret.txt"))  # noqa: F821 - cache and fs come from the host
    cache.set("counter", 10)  # noqa: F821
    response.write("stored\n")
