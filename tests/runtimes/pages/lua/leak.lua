local before = leaked_global
leaked_global = "set by an earlier request"
local cached = (string.leak == nil) and "clean" or "polluted"
pcall(function() string.leak = true end)
print("global=" .. tostring(before), "string=" .. cached)
