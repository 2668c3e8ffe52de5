-- A victim page that allocates: its garbage drives the worker's Lua VM through collection cycles,
-- which is when finalizers another request left behind would run.
-- A cache write first: a page with a side effect is never moved to a thread VM (docs/lua.md), so
-- this garbage is made in the VM where other requests' pages ran.
cache.incr("garbage-runs", 1)
local keep = {}
for i = 1, 40000 do
  keep[i % 64 + 1] = {i, tostring(i)}
end
print("garbage done")
