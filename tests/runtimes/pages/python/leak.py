import json

counter = None


def handle(request, response):
    global counter
    before = counter
    counter = "set by an earlier request"
    polluted = hasattr(json, "dynlan_leak")
    json.dynlan_leak = None
    del json.dynlan_leak
    response.write(f"global={'None' if before is None else before} string={'polluted' if polluted else 'clean'}\n")
