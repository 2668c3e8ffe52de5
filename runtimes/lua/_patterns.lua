-- Lua string patterns written in Lua, and the cost bound that decides when a
-- page's pattern call may run in Lua's own matcher.
--
-- Lua's matcher is C: the VM's count hook never fires inside it, so a pattern
-- that backtracks (`string.find(("a"):rep(100), ".-.-.-.-.-b")` tries about
-- 10^12 paths) would hold the worker past every budget. The sandbox asks
-- `cost` for an upper bound of the matcher's work first; a call whose bound is
-- too high runs here instead, as ordinary Lua code under the request's hook,
-- so its instruction and time budgets end it and the inline VM can preempt it.
--
-- This file follows lstrlib.c step by step (match, max_expand, min_expand, the
-- captures, str_find_aux, gmatch, gsub), so results, captures and error
-- messages are the same as the C functions'. `is54` selects Lua 5.4's rules;
-- otherwise LuaJIT's (Lua 5.1's): a pattern ends at its first "\0", `init`
-- past the end is clamped, gmatch has no `init` and steps past an empty match,
-- gsub may match empty right after a match, and a replacement string keeps
-- the character after a '%' that is not a digit.

local is54 = ...

local byte, char, sub, find, c_gsub = string.byte, string.char, string.sub, string.find, string.gsub
local concat, unpack, min = table.concat, table.unpack or unpack, math.min
local error, type, tostring, setmetatable, getmetatable, pcall = error, type, tostring, setmetatable, getmetatable, pcall

local CAP_UNFINISHED, CAP_POSITION = -1, -2
local MAXCAPTURES, MAXCCALLS = 32, 200
local ESC = 37  -- '%'
local SPECIALS = "[%^%$%*%+%?%.%(%[%%%-]"

-- Errors of the pattern itself (malformed, bad capture): the caller re-raises
-- their message at the page's call, as Lua's C functions do.
local PatternError = {}
local function ms_error(message)
  error(setmetatable({message = message}, PatternError), 0)
end
local function is_pattern_error(e)
  return type(e) == "table" and getmetatable(e) == PatternError
end

-- Character classes of the C locale, as byte -> true tables.
local CLASS = {}
do
  local function range(t, a, b) for c = a, b do t[c] = true end return t end
  local lower, upper, digit = range({}, 97, 122), range({}, 65, 90), range({}, 48, 57)
  local alpha, alnum, space, cntrl = {}, {}, range({}, 9, 13), range({}, 0, 31)
  local graph, punct, xdigit = range({}, 33, 126), {}, range(range(range({}, 48, 57), 97, 102), 65, 70)
  for c = 0, 255 do
    if lower[c] or upper[c] then alpha[c] = true end
    if alpha[c] or digit[c] then alnum[c] = true end
    if graph[c] and not alnum[c] then punct[c] = true end
  end
  space[32], cntrl[127] = true, true
  CLASS[97], CLASS[99], CLASS[100], CLASS[103], CLASS[108] = alpha, cntrl, digit, graph, lower
  CLASS[112], CLASS[115], CLASS[117], CLASS[119], CLASS[120] = punct, space, upper, alnum, xdigit
  CLASS[122] = {[0] = true}  -- %z, deprecated but still known to both engines
end

local function match_class(c, cl)
  local lo = cl
  if cl >= 65 and cl <= 90 then lo = cl + 32 end
  local t = CLASS[lo]
  if t == nil then return cl == c end
  if lo ~= cl then return not t[c] end
  return t[c] == true
end

-- p: index of '['; ec: index of the closing ']'.
local function match_bracket(P, c, p, ec)
  local sig = true
  if P[p + 1] == 94 then sig = false; p = p + 1 end
  while true do
    p = p + 1
    if p >= ec then return not sig end
    local pc = P[p]
    if pc == ESC then
      p = p + 1
      if match_class(c, P[p]) then return sig end
    elseif P[p + 1] == 45 and p + 2 < ec then
      p = p + 2
      if pc <= c and c <= P[p] then return sig end
    elseif pc == c then
      return sig
    end
  end
end

-- The pattern as bytes; P[pend] is 0, like the C string's terminator.
local function compile(p)
  if not is54 then
    local z = find(p, "\0", 1, true)
    if z then p = sub(p, 1, z - 1) end
  end
  local n = #p
  local P = {byte(p, 1, n)}
  P[n + 1] = 0
  return P, n + 1
end

local function class_end(P, pend, p)
  local pc = P[p]
  p = p + 1
  if pc == ESC then
    if p >= pend then ms_error("malformed pattern (ends with '%')") end
    return p + 1
  elseif pc == 91 then
    if P[p] == 94 then p = p + 1 end
    repeat
      if p >= pend then ms_error("malformed pattern (missing ']')") end
      local q = P[p]
      p = p + 1
      if q == ESC and p < pend then p = p + 1 end
    until P[p] == 93
    return p + 1
  end
  return p
end

local function singlematch(ms, s, p, ep)
  if s > ms.n then return false end
  local c = byte(ms.src, s)
  local pc = ms.P[p]
  if pc == 46 then return true end
  if pc == ESC then return match_class(c, ms.P[p + 1]) end
  if pc == 91 then return match_bracket(ms.P, c, p, ep - 1) end
  return pc == c
end

local function match_balance(ms, s, p)
  if p >= ms.pend - 1 then
    ms_error(is54 and "malformed pattern (missing arguments to '%b')" or "unbalanced pattern")
  end
  local src, n = ms.src, ms.n
  local b, e = ms.P[p], ms.P[p + 1]
  if s > n or byte(src, s) ~= b then return nil end
  local cont = 1
  s = s + 1
  while s <= n do
    local c = byte(src, s)
    if c == e then
      cont = cont - 1
      if cont == 0 then return s + 1 end
    elseif c == b then
      cont = cont + 1
    end
    s = s + 1
  end
  return nil
end

local function bad_index(i)
  if is54 then ms_error("invalid capture index %" .. i) end
  ms_error("invalid capture index")
end

local match

local function max_expand(ms, s, p, ep)
  local i = 0
  while singlematch(ms, s + i, p, ep) do i = i + 1 end
  while i >= 0 do
    local res = match(ms, s + i, ep + 1)
    if res then return res end
    i = i - 1
  end
  return nil
end

local function min_expand(ms, s, p, ep)
  while true do
    local res = match(ms, s, ep + 1)
    if res then return res end
    if singlematch(ms, s, p, ep) then s = s + 1 else return nil end
  end
end

local function start_capture(ms, s, p, what)
  local level = ms.level
  if level >= MAXCAPTURES then ms_error("too many captures") end
  ms.cinit[level + 1] = s
  ms.clen[level + 1] = what
  ms.level = level + 1
  local res = match(ms, s, p)
  if res == nil then ms.level = ms.level - 1 end
  return res
end

local function end_capture(ms, s, p)
  local l = ms.level
  while l > 0 and ms.clen[l] ~= CAP_UNFINISHED do l = l - 1 end
  if l == 0 then ms_error("invalid pattern capture") end
  ms.clen[l] = s - ms.cinit[l]
  local res = match(ms, s, p)
  if res == nil then ms.clen[l] = CAP_UNFINISHED end
  return res
end

local function match_capture(ms, s, c)
  local l = c - 48  -- '%1' is capture 1
  if l < 1 or l > ms.level or ms.clen[l] == CAP_UNFINISHED then bad_index(l) end
  local len = ms.clen[l]
  -- A position capture never matches: C compares its length as a size_t.
  if len >= 0 and ms.n - s + 1 >= len then
    local init = ms.cinit[l]
    if sub(ms.src, init, init + len - 1) == sub(ms.src, s, s + len - 1) then return s + len end
  end
  return nil
end

match = function(ms, s, p)
  local depth = ms.depth
  if depth == 0 then ms_error("pattern too complex") end
  ms.depth = depth - 1
  local P, pend = ms.P, ms.pend
  while p ~= pend do
    local pc = P[p]
    if pc == 40 then  -- '('
      if P[p + 1] == 41 then
        s = start_capture(ms, s, p + 2, CAP_POSITION)
      else
        s = start_capture(ms, s, p + 1, CAP_UNFINISHED)
      end
      break
    elseif pc == 41 then  -- ')'
      s = end_capture(ms, s, p + 1)
      break
    elseif pc == 36 and p + 1 == pend then  -- '$' ending the pattern
      if s ~= ms.n + 1 then s = nil end
      break
    elseif pc == ESC and P[p + 1] == 98 then  -- %b
      s = match_balance(ms, s, p + 2)
      if s == nil then break end
      p = p + 4
    elseif pc == ESC and P[p + 1] == 102 then  -- %f
      p = p + 2
      if P[p] ~= 91 then ms_error("missing '[' after '%f' in pattern") end
      local ep = class_end(P, pend, p)
      local prev = s == 1 and 0 or byte(ms.src, s - 1)
      local cur = s <= ms.n and byte(ms.src, s) or 0
      if match_bracket(P, prev, p, ep - 1) or not match_bracket(P, cur, p, ep - 1) then
        s = nil
        break
      end
      p = ep
    elseif pc == ESC and P[p + 1] >= 48 and P[p + 1] <= 57 then  -- %0-%9
      s = match_capture(ms, s, P[p + 1])
      if s == nil then break end
      p = p + 2
    else
      local ep = class_end(P, pend, p)
      local suffix = P[ep]
      if not singlematch(ms, s, p, ep) then
        if suffix == 42 or suffix == 63 or suffix == 45 then  -- '*', '?', '-' accept none
          p = ep + 1
        else
          s = nil
          break
        end
      elseif suffix == 63 then  -- '?'
        local res = match(ms, s + 1, ep + 1)
        if res ~= nil then
          s = res
          break
        end
        p = ep + 1
      elseif suffix == 43 then  -- '+'
        s = max_expand(ms, s + 1, p, ep)
        break
      elseif suffix == 42 then  -- '*'
        s = max_expand(ms, s, p, ep)
        break
      elseif suffix == 45 then  -- '-'
        s = min_expand(ms, s, p, ep)
        break
      else
        s = s + 1
        p = ep
      end
    end
  end
  ms.depth = ms.depth + 1
  return s
end

local function new_state(src, P, pend)
  return {src = src, n = #src, P = P, pend = pend, level = 0, depth = MAXCCALLS, cinit = {}, clen = {}}
end

local function get_capture(ms, i, s, e)
  if i >= ms.level then
    if i ~= 0 then bad_index(i + 1) end
    return sub(ms.src, s, e - 1)
  end
  local len = ms.clen[i + 1]
  if len == CAP_UNFINISHED then ms_error("unfinished capture") end
  local init = ms.cinit[i + 1]
  if len == CAP_POSITION then return init end
  return sub(ms.src, init, init + len - 1)
end

local function captures(ms, s, e)
  local n = ms.level
  if n == 0 and s then n = 1 end
  if n == 0 then return end
  local out = {}
  for i = 1, n do out[i] = get_capture(ms, i - 1, s, e) end
  return unpack(out, 1, n)
end

-- `init` as lstrlib's posrelatI (5.4) or posrelat plus clamping (5.1): a 0-based offset.
local function start_offset(init, len)
  if is54 then
    if init > 0 then return init - 1 end
    if init == 0 or init < -len then return 0 end
    return len + init
  end
  if init < 0 then init = init + len + 1 end
  if init < 0 then init = 0 end
  init = init - 1
  if init < 0 then return 0 end
  if init > len then return len end
  return init
end

-- A plain search whose cost is the hook's to bound: candidates by the first
-- byte (memchr in C), each compared as an anchored pattern of escaped bytes.
local function plain_find(s, p, init)
  local lp = #p
  if lp == 0 then return init end
  local escaped = "^" .. c_gsub(p, "%W", "%%%0")
  if not is54 and find(p, "\0", 1, true) then
    -- LuaJIT's patterns end at "\0": compare such a needle byte by byte.
    local last = #s - lp + 1
    local first = sub(p, 1, 1)
    local i = find(s, first, init, true)
    while i and i <= last do
      if sub(s, i, i + lp - 1) == p then return i end
      i = find(s, first, i + 1, true)
    end
    return nil
  end
  local first = sub(p, 1, 1)
  local last = #s - lp + 1
  local i = find(s, first, init, true)
  while i and i <= last do
    if find(s, escaped, i) then return i end
    i = find(s, first, i + 1, true)
  end
  return nil
end

local function find_aux(is_find, s, p, init, plain)
  local ls = #s
  local i = start_offset(init or 1, ls)
  if i > ls then return nil end
  if is_find and (plain or not find(p, SPECIALS)) then
    local at = plain_find(s, p, i + 1)
    if at then return at, at + #p - 1 end
    return nil
  end
  local P, pend = compile(p)
  local anchor = P[1] == 94
  local pstart = anchor and 2 or 1
  local ms = new_state(s, P, pend)
  local s1 = i + 1
  repeat
    ms.level = 0
    local e = match(ms, s1, pstart)
    if e then
      if is_find then return s1, e - 1, captures(ms, nil, 0) end
      return captures(ms, s1, e)
    end
    s1 = s1 + 1
  until s1 > ls + 1 or anchor
  return nil
end

local function gmatch(s, p, init)
  local ls = #s
  local P, pend = compile(p)
  local src = 1
  if is54 then
    local i = start_offset(init or 1, ls)
    if i > ls then i = ls + 1 end
    src = i + 1
  end
  local lastmatch = nil
  local ms = new_state(s, P, pend)
  return function()
    while src <= ls + 1 do
      ms.level = 0
      local e = match(ms, src, 1)
      if e ~= nil and (not is54 or e ~= lastmatch) then
        local start = src
        if is54 then
          src, lastmatch = e, e
        elseif e == src then
          src = e + 1
        else
          src = e
        end
        return captures(ms, start, e)
      end
      src = src + 1
    end
  end
end

local function add_string(ms, out, on, s, e, news)
  local l = #news
  local i = 1
  while true do
    local pct = find(news, "%", i, true)
    if not pct then break end
    if pct > i then on = on + 1; out[on] = sub(news, i, pct - 1) end
    local c = byte(news, pct + 1) or 0
    if c == ESC then
      on = on + 1; out[on] = "%"
    elseif c == 48 then
      on = on + 1; out[on] = sub(ms.src, s, e - 1)
    elseif c >= 49 and c <= 57 then
      on = on + 1; out[on] = tostring(get_capture(ms, c - 49, s, e))
    elseif is54 then
      ms_error("invalid use of '%' in replacement string")
    else
      on = on + 1; out[on] = char(c)
    end
    i = pct + 2
  end
  if i <= l then on = on + 1; out[on] = sub(news, i) end
  return on
end

-- Appends the replacement of the match [s, e) to out; returns the new count and whether it changed.
local function add_value(ms, out, on, s, e, repl, tr)
  local v
  if tr == "function" then
    v = repl(captures(ms, s, e))
  elseif tr == "table" then
    v = repl[get_capture(ms, 0, s, e)]
  else
    return add_string(ms, out, on, s, e, tostring(repl)), true
  end
  if not v then
    on = on + 1; out[on] = sub(ms.src, s, e - 1)
    return on, false
  end
  local tv = type(v)
  if tv ~= "string" and tv ~= "number" then ms_error("invalid replacement value (a " .. tv .. ")") end
  on = on + 1; out[on] = tostring(v)
  return on, true
end

local function gsub(s, p, repl, max_n)
  local srcl = #s
  local tr = type(repl)
  local P, pend = compile(p)
  local anchor = P[1] == 94
  local pstart = anchor and 2 or 1
  if max_n == nil then max_n = srcl + 1 end
  local ms = new_state(s, P, pend)
  local out, on = {}, 0
  local src, keep, lastmatch, n, changed = 1, 1, nil, 0, false
  while n < max_n do
    ms.level = 0
    local e = match(ms, src, pstart)
    if e ~= nil and (not is54 or e ~= lastmatch) then
      n = n + 1
      if src > keep then on = on + 1; out[on] = sub(s, keep, src - 1) end
      local c
      on, c = add_value(ms, out, on, src, e, repl, tr)
      changed = changed or c
      keep = e
      if is54 or e > src then
        src, lastmatch = e, e
      elseif src <= srcl then
        src = src + 1
      else
        break
      end
    elseif src <= srcl then
      src = src + 1
    else
      break
    end
    if anchor then break end
  end
  if is54 and not changed then return s, n end
  if keep <= srcl then on = on + 1; out[on] = sub(s, keep) end
  return concat(out, "", 1, on), n
end

-- The cost bound --------------------------------------------------------------

-- What a pattern's cost depends on, from one pass over it: the quantified
-- single-character items (each can take as many characters as the longest run
-- of its class), '?' items (two ways each), '%b' and back-references (each
-- visit reads up to the whole subject). Malformed parts end the pass: the C
-- matcher fails there.
local function analyze(p, skip_anchor)
  local P, pend = compile(p)
  local items, optional, scans = {}, 0, 0
  local i = 1
  local anchored = false
  if skip_anchor and P[1] == 94 then anchored = true; i = 2 end
  local ok = pcall(function()
    while i < pend do
      local pc = P[i]
      if pc == 40 then
        i = i + ((P[i + 1] == 41) and 2 or 1)
      elseif pc == 41 then
        i = i + 1
      elseif pc == 36 and i + 1 == pend then
        i = i + 1
      elseif pc == ESC and P[i + 1] == 98 then
        if i + 3 >= pend then return end
        scans = scans + 1
        i = i + 4
      elseif pc == ESC and P[i + 1] == 102 then
        i = i + 2
        if P[i] ~= 91 then return end
        i = class_end(P, pend, i)
      elseif pc == ESC and P[i + 1] >= 48 and P[i + 1] <= 57 then
        scans = scans + 1
        i = i + 2
      else
        local ep = class_end(P, pend, i)
        local suffix = P[ep]
        if suffix == 42 or suffix == 43 or suffix == 45 then
          local item
          if pc == 46 and ep == i + 1 then
            item = true  -- '.': every character
          elseif ep == i + 1 and (pc == 94 or pc == 0) then
            item = pc == 94 and "%^" or true
          else
            item = sub(p, i, ep - 1)
          end
          items[#items + 1] = item
          i = ep + 1
        elseif suffix == 63 then
          optional = optional + 1
          i = ep + 1
        else
          i = ep
        end
      end
    end
  end)
  return {items = items, optional = optional, scans = scans, plen = pend, anchored = anchored, complete = ok}
end

local analyzed = {}  -- pattern analyses, by mode and pattern (facts about the text only)
local analyzed_count = 0

local function analysis(p, skip_anchor)
  local key = skip_anchor and p or "\1" .. p
  local a = analyzed[key]
  if a then return a end
  a = analyze(p, skip_anchor)
  if analyzed_count >= 256 then analyzed, analyzed_count = {}, 0 end
  analyzed[key] = a
  analyzed_count = analyzed_count + 1
  return a
end

-- The longest run of `item` in s from init, and the number of (start, length)
-- pairs all its runs allow: sum of r(r+1)/2.
local function runs(s, item, init, n)
  if item == true then return n, n * (n + 1) / 2 end
  local pattern = item .. "+"
  local longest, pairs_ = 0, 0
  local i = init
  while true do
    local a, b = find(s, pattern, i)
    if not a then break end
    local r = b - a + 1
    if r > longest then longest = r end
    pairs_ = pairs_ + r * (r + 1) / 2
    i = b + 1
  end
  return longest, pairs_
end

-- An upper bound of the steps Lua's C matcher can take for one call (find,
-- match, or a whole gmatch/gsub run) on s from init. Callers only compare it
-- with limits up to `cap`: past that, any number above `cap` is returned. A
-- crude bound up to `free` is returned as it is (no runs are measured).
local function cost(s, p, init, skip_anchor, free, cap)
  local a = analysis(p, skip_anchor)
  local n = #s - init + 1
  if n < 0 then n = 0 end
  local items = a.items
  local q = #items
  local starts = a.anchored and 1 or n + 1
  local per_visit = (2 ^ a.optional) * a.plen * (1 + a.scans * (n + 1))
  -- The ends of the quantified items never go back: over all starts, the
  -- matcher visits at most as many (start, ends) tuples as there are
  -- non-decreasing sequences, C(n+q+1, q+1) (anchored: C(n+q, q)).
  local paths = 1
  local k = a.anchored and q or q + 1
  for i = 1, k do paths = paths * (n + i) / i end
  local crude = starts
  for _ = 1, q do crude = crude * (n + 1) end
  if paths < crude then crude = paths end
  local bound = crude * per_visit
  if bound <= free or q == 0 then return bound end
  -- Still high: measure the runs each quantified class can take.
  local product = per_visit
  local seen = {}
  for j = 1, q do
    local item = items[j]
    local r = seen[item]
    if r == nil then
      local longest, pairs_ = runs(s, item, init, n)
      r = {longest, pairs_}
      seen[item] = r
    end
    if j == 1 and not a.anchored then
      product = product * min(r[2] + n + 1, starts * (r[1] + 1))
    else
      product = product * (r[1] + 1)
    end
    if product > bound then return bound end
    if product > cap and bound > cap then return product end
  end
  return product
end

-- The cost of a plain search (lmemfind compares the needle at every candidate).
local function plain_cost(s, p, init)
  local n = #s - init + 1
  if n < 0 then n = 0 end
  return (n + 1) * (#p + 1)
end

return {
  find = function(s, p, init, plain) return find_aux(true, s, p, init, plain) end,
  match = function(s, p, init) return find_aux(false, s, p, init, false) end,
  gmatch = gmatch,
  gsub = gsub,
  cost = cost,
  plain_cost = plain_cost,
  start_offset = start_offset,
  specials = SPECIALS,
  is_pattern_error = is_pattern_error,
}
