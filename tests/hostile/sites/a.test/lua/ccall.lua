-- Class 2: one call into Lua's C library that runs long: no instruction hook fires inside it.
log.warn("hostile-inflight " .. tostring(request.query.tag))
local kind = request.query.kind
local subject = string.rep("a", 100)
local backtrack = ".-.-.-.-.-b" -- no "b" in the subject: every way of splitting it is tried

local function spinning_sort()
  local t = {}
  for i = 1, 100 do t[i] = i end
  table.sort(t, function() while true do end end) -- the comparator never returns
end

local attacks = {
  find = function() return string.find(subject, backtrack) end,
  method = function() return subject:find(backtrack) end, -- through the string metatable
  match = function() return string.match(subject, backtrack) end,
  gmatch = function() for m in string.gmatch(subject, backtrack) do return m end end,
  gsub = function() return string.gsub(subject, backtrack, "x") end,
  rep = function() return #string.rep("abcdefgh", 2 ^ 28) end, -- 2 GiB in one call
  ["rep-sep"] = function() return #string.rep("", 2 ^ 30, "ab") end, -- 2 GiB of separators
  concat = function()
    local t = {}
    for i = 1, 1024 do t[i] = "x" end
    return #table.concat(t, string.rep(",", 2 ^ 21)) -- 2 GiB of separators
  end,
  format = function()
    local n = {}
    for i = 1, 400000 do n[i] = 1e308 end
    return #string.format(string.rep("%99.99f", #n), table.unpack(n)) -- 160 MB of digits
  end,
  sort = spinning_sort,
  ["sort-after-write"] = function()
    -- A side effect first: the page can no longer be moved to a thread VM (docs/lua.md).
    cache.set("wrote", true)
    spinning_sort()
  end,
}
print(attacks[kind]())
