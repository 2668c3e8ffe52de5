var key = "conformance:" + Request.query["run"]
Cache.set(key, {"name": "box", "items": [1, 2, 3], "nested": {"ok": true}}, 60)
var v = Cache.get(key)
v["items"][0] = 99 // a copy: the cached value must not change
var again = Cache.get(key)
var n1 = Cache.incr(key + ":n", 5)
var n2 = Cache.incr(key + ":n", 2)
Cache.delete(key)
System.print([again["name"], again["items"][0], again["items"][2], again["nested"]["ok"], n1, n2, Cache.get(key)].join(" "))
