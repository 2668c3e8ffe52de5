def handle(request, response):
    key = "conformance:" + request.query["run"]
    cache.set(key, {"name": "box", "items": [1, 2, 3], "nested": {"ok": True}}, 60)
    value = cache.get(key)
    value["items"][0] = 99  # a copy: the cached value must not change
    again = cache.get(key)
    n1 = cache.incr(key + ":n", 5)
    n2 = cache.incr(key + ":n", 2)
    cache.delete(key)
    fields = [again["name"], again["items"][0], again["items"][2], str(again["nested"]["ok"]).lower(), n1, n2,
              "nil" if cache.get(key) is None else "set"]
    response.write(" ".join(str(f) for f in fields))
