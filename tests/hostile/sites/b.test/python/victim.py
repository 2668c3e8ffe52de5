import json
import os


def handle(request, response):
    """A victim page whose work goes through builtins and a library that a hostile page could patch:
    a spy on `open`, `print` or `json.dumps` would see its secret file and its session cookie."""
    with open(os.path.join(os.path.dirname(__file__), "..", "_secret.txt")) as f:
        secret = f.read()
    tag = request.query.get("tag", "")
    token = json.dumps({"tag": tag, "session": request.cookies.get("session"), "secret": secret})
    print("victim page ran", tag)
    response.write(f"victim ok {len(token)}\n")
