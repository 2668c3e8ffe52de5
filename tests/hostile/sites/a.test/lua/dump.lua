-- Class 10: string.dump (bytecode of any function) through every road to the string library.
local probes = {
  {"string.dump", function() return string.dump end},
  {"(\"\").dump", function() return ("").dump end},
  {"s.dump", function() local s = "x" return s.dump end},
  {"metatable __index", function()
    local mt = getmetatable("")
    return type(mt) == "table" and type(mt.__index) == "table" and mt.__index.dump or nil
  end},
}
for _, p in ipairs(probes) do
  local ok, v = pcall(p[2])
  print(p[1] .. " " .. (ok and type(v) or "error"))
end
