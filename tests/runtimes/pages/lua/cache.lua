local key = "conformance:" .. request.query.run
cache.set(key, {name = "box", items = {1, 2, 3}, nested = {ok = true}}, 60)
local v = cache.get(key)
v.items[1] = 99 -- a copy: the cached value must not change
local again = cache.get(key)
local n1 = cache.incr(key .. ":n", 5)
local n2 = cache.incr(key .. ":n", 2)
cache.delete(key)
print(again.name, again.items[1], again.items[3], tostring(again.nested.ok), n1, n2, tostring(cache.get(key)))
