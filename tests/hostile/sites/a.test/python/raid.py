KEYS = ["secret", "counter", "b.test\0secret", "b.test\0counter", "b.test:secret", "b.test/secret", "../b.test/secret"]


def handle(request, response):
    """Class 5: the victim's cache entries by their names, and by names that might reach into its
    namespace: read them and, with ?op=, overwrite, delete or count them up."""
    c = cache  # noqa: F821 - the host puts cache in the page's namespace
    op = request.query.get("op")
    seen = []
    for k in KEYS:
        try:
            seen.append(f"{k!r} = {c.get(k)!r}")
        except Exception as exc:
            seen.append(f"{k!r} = error {exc}")
        try:
            if op == "set":
                c.set(k, "pwned")
            elif op == "delete":
                c.delete(k)
            elif op == "incr":
                c.incr(k, 1000)
        except Exception:
            pass
    found = "\n".join(seen)
    c.set("loot", found)
    response.write(found + "\n")
