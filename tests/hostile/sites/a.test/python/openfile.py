import os


def handle(request, response):
    """A page opens another site's file with Python's own open(), not the host API."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the site: this page is in python/
    out = []
    for path in ("../b.test/_secret.txt", os.path.join(root, "..", "b.test", "_secret.txt"),
                 request.query.get("victim", "") + "/_secret.txt", os.path.join(root, "link.txt")):
        try:
            with open(path) as f:
                out.append(f"{path}: {f.read()}")
        except OSError as exc:
            out.append(f"{path}: {type(exc).__name__}")
    response.write("\n".join(out) + "\n")
