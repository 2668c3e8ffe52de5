def handle(request, response):
    """The victim reads its cache entries back: did anything of another site change them?"""
    secret = fs.read("_secret.txt")  # noqa: F821 - cache and fs come from the host
    same = "same" if cache.get("secret") == secret else "changed"  # noqa: F821
    counter = "same" if cache.get("counter") == 10 else "changed"  # noqa: F821
    response.write(f"secret={same} counter={counter}\n")
