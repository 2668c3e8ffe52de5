-- math.random and math.randomseed with a generator per request (Lua 5.4).
--
-- Lua's own generator is one per VM: a page that seeds it, or reads a few of
-- its outputs, knows what every later request on the VM draws. Each request
-- here gets its own xoshiro256** state, seeded from the OS when the page
-- first asks; the algorithm, the seeding and the projection into a range are
-- lmathlib.c's, so `math.randomseed(42)` gives the same numbers as in Lua.

local math_tointeger, math_ult, string_unpack = math.tointeger, math.ult, string.unpack
local select, type, tonumber, error = select, type, tonumber, error

local function rotl(x, n)
  return (x << n) | (x >> (64 - n))
end

local function nextrand(s)
  local s0, s1, s2, s3 = s[1], s[2], s[3], s[4]
  local result = rotl(s1 * 5, 7) * 9
  local t = s1 << 17
  s2 = s2 ~ s0
  s3 = s3 ~ s1
  s1 = s1 ~ s2
  s0 = s0 ~ s3
  s2 = s2 ~ t
  s3 = rotl(s3, 45)
  s[1], s[2], s[3], s[4] = s0, s1, s2, s3
  return result
end

local function setseed(s, n1, n2)
  s[1], s[2], s[3], s[4] = n1, 0xff, n2, 0
  for _ = 1, 16 do nextrand(s) end
  return n1, n2
end

-- The OS's bytes as the two seed integers (what randomseed() without arguments returns).
local function from_bytes(bytes)
  local n1, n2 = string_unpack("<i8i8", bytes)
  return n1, n2
end

local function to_int(x)
  if type(x) == "string" then x = tonumber(x) end
  if type(x) ~= "number" then return nil end
  return math_tointeger(x)
end

local function project(ran, n, s)
  if n & (n + 1) == 0 then return ran & n end
  local lim = n
  lim = lim | (lim >> 1)
  lim = lim | (lim >> 2)
  lim = lim | (lim >> 4)
  lim = lim | (lim >> 8)
  lim = lim | (lim >> 16)
  lim = lim | (lim >> 32)
  ran = ran & lim
  while math_ult(n, ran) do ran = nextrand(s) & lim end
  return ran
end

local TWO_M53 = 0.5 ^ 53

-- `native` is Lua's own function: argument errors are raised by calling it, so
-- their messages are Lua's (its result, from the VM's generator, is not used).
local function random(s, native, ...)
  local rv = nextrand(s)
  local nargs = select("#", ...)
  local low, up
  if nargs == 0 then
    return (rv >> 11) * TWO_M53
  elseif nargs == 1 then
    low, up = 1, to_int((...))
    if up == nil then return native(...) end
    if up == 0 then return rv end
  elseif nargs == 2 then
    low, up = to_int((...)), to_int((select(2, ...)))
    if low == nil or up == nil then return native(...) end
  else
    return native(...)
  end
  if low > up then return native(...) end
  return project(rv, up - low, s) + low
end

local function randomseed(s, native, seed_bytes, ...)
  if select("#", ...) == 0 then return setseed(s, from_bytes(seed_bytes())) end
  local n1, n2 = to_int((...)), 0
  if select("#", ...) > 1 then n2 = to_int((select(2, ...))) end
  if n1 == nil or n2 == nil then return native(...) end
  return setseed(s, n1, n2)
end

local function new(seed)
  local s = {}
  setseed(s, from_bytes(seed))
  return s
end

return {new = new, random = random, randomseed = randomseed}
