-- The attacker comes back: a collection may run in its own request now (finalizers would write
-- into this response), and it reads what they stored in its cache.
cache.incr("collect-runs", 1) -- a side effect: this page is not moved off the VM (docs/lua.md)
local keep = {}
for i = 1, 40000 do
  keep[i % 64 + 1] = {i, tostring(i)}
end
print("loot: " .. json.encode(cache.get("loot")))
