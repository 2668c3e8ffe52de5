-- A victim page that allocates (about 1 MB, a few milliseconds): its garbage drives the worker's
-- Lua VM through collection cycles, which is when finalizers another request left behind would run.
-- It stays within the VM's slice and has no side effect, so it runs on the shared VM where other
-- requests' pages ran (docs/lua.md).
local keep = {}
for i = 1, 10000 do
  keep[i % 64 + 1] = {i, tostring(i)}
end
print("garbage done")
