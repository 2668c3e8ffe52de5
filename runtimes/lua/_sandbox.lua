-- The Lua side of DynLan's Lua runtime, run once per VM with full access,
-- before any page. It keeps private references to what pages must not reach
-- (debug, the real library functions, the string metatable), builds the
-- read-only prelude every request's environment reads from, and returns the
-- functions the host drives requests with.
--
-- Nothing a page can reach is shared writable state: a page's globals live in
-- its own environment, the prelude and library tables are read-only proxies,
-- and the host API tables find the calling request through the running
-- coroutine. Nothing a page creates can run code after its request or outside
-- its budgets: no finalizers, library calls whose cost could outrun the
-- budget hook are bounded before they start, and the hook comes more often
-- when the request holds large data (one VM instruction can then cost more).

local host_now, host_seed, patterns, random54 = ...

local is54 = _VERSION == "Lua 5.4"
if jit then
  -- LuaJIT runs compiled traces without calling hooks: with the JIT on, no
  -- budget could stop `while true do end`.
  jit.off()
  jit.flush()
end

local coroutine_create, coroutine_resume, coroutine_yield = coroutine.create, coroutine.resume, coroutine.yield
local coroutine_status, coroutine_running, coroutine_isyieldable = coroutine.status, coroutine.running, coroutine.isyieldable
local coroutine_close = coroutine.close
local sethook, gethook, traceback, getinfo = debug.sethook, debug.gethook, debug.traceback, debug.getinfo
local raw_getmetatable = debug.getmetatable
local setmetatable, getmetatable, rawget, rawset, rawequal, rawlen = setmetatable, getmetatable, rawget, rawset, rawequal, rawlen
local type, error, pairs, ipairs, next, select, tostring, tonumber = type, error, pairs, ipairs, next, select, tostring, tonumber
local pcall, xpcall, load = pcall, xpcall, load
local collectgarbage, newproxy = collectgarbage, newproxy
local floor, huge, math_tointeger, maxinteger = math.floor, math.huge, math.tointeger, math.maxinteger
local table_concat, table_insert, table_remove, table_sort, table_move = table.concat, table.insert, table.remove, table.sort, table.move
local table_unpack = table.unpack or unpack
local table_pack = table.pack or function(...) return {n = select("#", ...), ...} end
local string_format, string_sub, string_find, string_lower = string.format, string.sub, string.find, string.lower
local string_match, string_gmatch, string_gsub, string_rep, string_byte = string.match, string.gmatch, string.gsub, string.rep, string.byte
local bit = bit

local HOOK_STEP = 10000
local HOOK_TAIL = is54 and 2 or 0  -- instructions the hook runs after it sets its count (Lua 5.4 counts them)
-- Bytes x instructions a hook interval may cover: one instruction can read a
-- whole string (`a < b`, `a == b`, `a .. b` cost about 0.1-0.3 ns a byte), so
-- a request that grew the VM by G bytes gets its hook every BUDGET / G
-- instructions (about 10 ms of the worst instructions inline, 100 ms on a
-- thread VM).
local STEP_BUDGET_INLINE, STEP_BUDGET_THREAD = 3e7, 3e8
local QUIET, MAX_SKIP = 0.002, 3   -- seconds a hook interval takes when clock reads may be skipped
-- Matcher steps a pattern call may take in C: free (no lookup), inline, on a thread VM.
local PATTERN_FREE, PATTERN_INLINE, PATTERN_THREAD = 2e5, 2e6, 5e7
local CLOCK_UNITS = 1e5              -- after a C call this costly, the clock is read
local REP_FREE = 65536               -- string.rep results up to this size are not looked at
local MOVE_FREE = 65536              -- table.move ranges up to this size stay in C
local LOAD_INLINE = 262144           -- a chunk larger than this is not compiled on the inline VM
local JSON_MAX = 8 * 1024 * 1024     -- json.decode input (the host parses it in its event loop)
local REBASE_KB = 1024               -- garbage above the VM's floor before a thread VM collects it
local SEGMENT_KB = 4096              -- growth after which an inline run's garbage is collected when it pauses
local BLOCK_MESSAGE = "page computed too long on the shared VM after a side effect (a cache write or sent bytes);"
  .. " its next requests start on a thread VM"

-- Budget errors: pcall cannot swallow them, and a request that had one stays
-- failed (a __close handler that raises another error does not revive it).
local budget_info = setmetatable({}, {__mode = "k"})

local function budget_error(kind, message)
  local e = {}
  budget_info[e] = {kind, message}
  return e
end

local function is_budget(e)
  return budget_info[e] ~= nil
end

local function is_fatal(e)
  return e == "not enough memory" or budget_info[e] ~= nil
end

-- Requests ---------------------------------------------------------------------

-- The request each coroutine acts for (a page's own coroutines act for the
-- request that created them). A coroutine is only ever found here by the
-- host's lookup, never by a page.
local states = setmetatable({}, {__mode = "k"})

local function state_of()
  local st = states[coroutine_running()]
  if st == nil then error("host API used outside a request", 3) end
  return st
end

local function fail(st, kind, message)
  local e = budget_error(kind, message)
  st.failed = e
  error(e, 0)
end

-- The VM's memory floor (KB): what it holds for no request (the sandbox,
-- compiled pages); a thread VM collects its garbage when it has drifted above.
local vm_floor = collectgarbage("count")

-- The hook interval for a request whose VM is at `mem` KB: what the request
-- can reach is what it grew the VM by while it ran (on the inline VM, what
-- other requests did while it waited on a host call is left out, see
-- `resume`). Garbage of other requests collected while it runs makes that
-- growth look smaller; an inline run that grew a lot has its garbage collected
-- when it pauses.
local function step_for(st, mem)
  local g = (mem - st.mem_start) * 1024
  local budget = st.step_budget
  if g * HOOK_STEP <= budget then return HOOK_STEP end
  local s = floor(budget / g)
  if s < 1 then return 1 end
  return s
end

-- Whether the running request, with `extra_kb` more, is past its memory
-- budget: what the VM grew by since the request started. Garbage counts there
-- until it is collected (the page's own, and on the inline VM that of requests
-- that ran while this one waited on a host call), so past the budget a full
-- collection runs before the verdict: only what stays alive ends a request.
-- Returns the verdict and the VM's memory (KB).
local function over_budget(st, extra_kb)
  local mem = collectgarbage("count")
  if mem - st.mem_start + extra_kb <= st.mem_limit then return false, mem end
  collectgarbage("collect")
  mem = collectgarbage("count")
  return mem - st.mem_start + extra_kb > st.mem_limit, mem
end

local function check_clock(st)
  local now = host_now()
  if now > st.deadline then fail(st, "time", "page ran past its time budget") end
  if st.preemptible then
    if now > st.slice_end then
      -- Used its inline slice with no side effect yet: the host runs it again on a thread VM.
      local e = budget_error("preempt", "slice used up")
      st.failed = e
      error(e, 0)
    end
  elseif st.block_end and now > st.block_end then
    fail(st, "inline", BLOCK_MESSAGE)
  end
  return now
end

-- The count hook, the same function for every request of the VM (LuaJIT's
-- hooks are global): it finds the request through the running coroutine.
local hook
hook = function()
  local st = states[coroutine_running()]
  if st == nil then return end
  local failed = st.failed
  if failed then error(failed, 0) end
  local _, _, step = gethook()
  local count = st.count + step - HOOK_TAIL
  st.count = count
  if count > st.instructions then
    fail(st, "instructions", string_format("page ran past its instruction budget of %d", st.instructions))
  end
  local over, mem = over_budget(st, 0)
  if over then
    fail(st, "memory", string_format("page used more than its memory budget of %d bytes", st.memory))
  end
  if st.skipped < st.skip then
    st.skipped = st.skipped + 1
  else
    local before = st.last_now
    local now = check_clock(st)
    st.last_now = now
    if before and now - before < QUIET * (st.skipped + 1) then
      if st.skip < MAX_SKIP then st.skip = st.skip + 1 end
    else
      st.skip = 0
    end
    st.skipped = 0
  end
  -- Lua 5.4 counts the hook's own instructions towards the next interval:
  -- setting the count again as the hook ends starts the interval afresh.
  sethook(hook, "", step_for(st, mem) + HOOK_TAIL)
end

-- A C call that just did `units` of matcher work: read the clock if it was a lot.
local function tick(st, units)
  if units >= CLOCK_UNITS then check_clock(st) end
end

-- Work too long for the inline VM: a page with no side effect yet moves to a
-- thread VM, one with side effects fails (and its next requests start there).
local function leave_inline(st)
  if st.preemptible then
    local e = budget_error("preempt", "work too long for the inline VM")
    st.failed = e
    error(e, 0)
  end
  fail(st, "inline", BLOCK_MESSAGE)
end

-- Growth between two hooks: each finished GC cycle runs this finalizer (the
-- host's own object, not a page's), which brings the running request's next
-- hook forward to the next instruction; the hook then sets the interval its
-- memory calls for (a page that doubles a string 25 times then compares it
-- needs only 30 instructions). Inside a finalizer collectgarbage("count")
-- does not answer, so the hook measures.
local function watch_growth()
  local st = states[coroutine_running()]
  if st == nil or st.failed or not st.mem_start then return end
  local _, _, step = gethook()
  if step and step > 1 + HOOK_TAIL then sethook(hook, "", 1 + HOOK_TAIL) end
end
if is54 then
  local sentinel = {}
  sentinel.__gc = function()
    setmetatable({}, sentinel)
    watch_growth()
  end
  setmetatable({}, sentinel)
elseif newproxy then
  local first = newproxy(true)
  getmetatable(first).__gc = function(old)
    newproxy(old)
    watch_growth()
  end
end
if not is54 then
  -- LuaJIT's hook is one for the whole VM.
  sethook(hook, "", HOOK_STEP + HOOK_TAIL)
end

-- Budget errors and memory exhaustion pass through pcall, and so does any
-- error once the request has failed: a page cannot catch its way past its budget.
local function rethrow_fatal(ok, ...)
  if not ok then
    local st = states[coroutine_running()]
    if st ~= nil and st.failed then error(st.failed, 0) end
    local e = (...)
    if is_fatal(e) then
      if st ~= nil and e == "not enough memory" then
        st.failed = budget_error("memory", "page ran out of memory")
      end
      error(e, 0)
    end
  end
  return ok, ...
end

local function safe_pcall(f, ...)
  return rethrow_fatal(pcall(f, ...))
end

local function safe_xpcall(f, handler, ...)
  return rethrow_fatal(xpcall(f, function(e)
    if is_fatal(e) then return e end
    return handler(e)
  end, ...))
end

-- Shared, read-only library tables ---------------------------------------

local shared = {}   -- every table pages may reach but not change

local function readonly(src, name)
  local proxy = setmetatable({}, {
    __index = src,
    __newindex = function() error("attempt to modify read-only table '" .. name .. "'", 2) end,
    __metatable = false,
  })
  shared[proxy] = true
  return proxy
end

local function copy(t, names)
  local out = {}
  for _, n in ipairs(names) do out[n] = t[n] end
  return out
end

local function to_int(x)
  if type(x) == "string" then x = tonumber(x) end
  if type(x) ~= "number" then return nil end
  if is54 then return math_tointeger(x) end
  if x ~= x or x == huge or x == -huge then return nil end
  if x >= 0 then return floor(x) end
  return -floor(-x)
end

local function safe_rawset(t, k, v)
  if shared[t] then error("attempt to modify read-only table", 2) end
  return rawset(t, k, v)
end

-- No finalizers: a __gc would run page code in whichever request triggers
-- the collection, with that request's host API and outside every budget.
-- (Lua 5.4 marks an object for finalization only if __gc is present when
-- setmetatable is called, so adding one to the metatable later does nothing.)
-- No weak tables either: the collector's pass over weak-keyed tables is
-- quadratic in a chain of keys, and it runs in one C call no hook stops.
local function safe_setmetatable(t, mt)
  if shared[t] then error("cannot change a protected metatable", 2) end
  if type(mt) == "table" then
    if rawget(mt, "__gc") ~= nil then error("finalizers (__gc) are not available to pages", 2) end
    if rawget(mt, "__mode") ~= nil then error("weak tables (__mode) are not available to pages", 2) end
  end
  return setmetatable(t, mt)
end

-- Pattern calls: Lua's matcher when its cost is bounded, else the one in Lua.

local pattern_find, pattern_match, pattern_gmatch, pattern_gsub = patterns.find, patterns.match, patterns.gmatch, patterns.gsub
local pattern_cost, plain_cost, start_offset = patterns.cost, patterns.plain_cost, patterns.start_offset
local SPECIALS, is_pattern_error = patterns.specials, patterns.is_pattern_error

-- true: the C matcher may take `cost` steps for the calling request.
local function c_may_match(cost)
  if cost <= PATTERN_FREE then return true end
  local st = state_of()
  if st.threaded then
    if cost <= PATTERN_THREAD then return true end
    return false
  end
  if cost <= PATTERN_INLINE then return true end
  if st.preemptible then leave_inline(st) end
  return false
end

local function after_match(cost)
  if cost > PATTERN_FREE then tick(state_of(), cost) end
end

-- Runs the Lua matcher; a pattern error is raised at the page's call, as Lua's own.
local function in_lua(fn, ...)
  local r = table_pack(pcall(fn, ...))
  if r[1] then return table_unpack(r, 2, r.n) end
  local e = r[2]
  if is_pattern_error(e) then error(e.message, 2) end
  error(e, 0)
end

local function as_text(x)
  local t = type(x)
  if t == "string" then return x end
  if t == "number" then return tostring(x) end
  return nil
end

local function checked(cost, ...)
  after_match(cost)
  return ...
end

local function safe_find(s, p, init, plain)
  local ss, ps = as_text(s), as_text(p)
  local i = 1
  if init ~= nil then i = to_int(init) end
  if ss == nil or ps == nil or i == nil then return string_find(s, p, init, plain) end
  local from = start_offset(i, #ss) + 1
  local cost
  if plain or not string_find(ps, SPECIALS) then
    cost = plain_cost(ss, ps, from)
  else
    cost = pattern_cost(ss, ps, from, true, PATTERN_FREE, PATTERN_THREAD)
  end
  if c_may_match(cost) then return checked(cost, string_find(ss, ps, i, plain)) end
  return in_lua(pattern_find, ss, ps, i, plain)
end

local function safe_match(s, p, init)
  local ss, ps = as_text(s), as_text(p)
  local i = 1
  if init ~= nil then i = to_int(init) end
  if ss == nil or ps == nil or i == nil then return string_match(s, p, init) end
  local cost = pattern_cost(ss, ps, start_offset(i, #ss) + 1, true, PATTERN_FREE, PATTERN_THREAD)
  if c_may_match(cost) then return checked(cost, string_match(ss, ps, i)) end
  return in_lua(pattern_match, ss, ps, i)
end

local function safe_gmatch(s, p, init)
  local ss, ps = as_text(s), as_text(p)
  local i = 1
  if init ~= nil and is54 then i = to_int(init) end
  if ss == nil or ps == nil or i == nil then return string_gmatch(s, p, init) end
  local cost = pattern_cost(ss, ps, is54 and start_offset(i, #ss) + 1 or 1, false, PATTERN_FREE, PATTERN_THREAD)
  if c_may_match(cost) then return string_gmatch(ss, ps, i) end
  local it = pattern_gmatch(ss, ps, i)
  return function() return in_lua(it) end
end

local function safe_gsub(s, p, repl, n)
  local ss, ps = as_text(s), as_text(p)
  local tr = type(repl)
  local max_n = nil
  if n ~= nil then max_n = to_int(n) end
  if ss == nil or ps == nil or (n ~= nil and max_n == nil)
     or (tr ~= "string" and tr ~= "number" and tr ~= "function" and tr ~= "table") then
    return string_gsub(s, p, repl, n)
  end
  local cost = pattern_cost(ss, ps, 1, true, PATTERN_FREE, PATTERN_THREAD)
  if c_may_match(cost) then return checked(cost, string_gsub(ss, ps, repl, max_n)) end
  return in_lua(pattern_gsub, ss, ps, repl, max_n)
end

-- string.rep's result is sized before a byte is copied: past the memory budget it is refused (LuaJIT).
local function safe_rep(s, n, sep)
  if sep == nil and type(n) == "number" and type(s) == "string" and #s * n <= REP_FREE then return string_rep(s, n) end
  local ss, count = as_text(s), to_int(n)
  local sp = sep
  if sep ~= nil then sp = as_text(sep) end
  if ss == nil or count == nil or (sep ~= nil and sp == nil) then return string_rep(s, n, sep) end
  if count > 0 then
    local lsep = sp and #sp or 0
    local size = (#ss + lsep) * (count * 1.0) - lsep  -- a float: an integer product could wrap around
    if size > REP_FREE then
      local st = state_of()
      if over_budget(st, size / 1024) then
        fail(st, "memory", string_format("string.rep of %.0f bytes is past the page's memory budget of %d bytes",
          size, st.memory))
      end
    end
  end
  return string_rep(ss, count, sp)
end

-- table.concat, insert, remove, move in Lua 5.4 read and write through
-- metamethods: on a table with a metatable every element can be computed (an
-- __index that is a C function costs nothing to write), so the loop runs in
-- Lua, where the hook sees it. Without a metatable each step reads a real
-- element, which the page had to build.
local function safe_concat(t, sep, i, j)
  if type(t) ~= "table" or raw_getmetatable(t) == nil then return table_concat(t, sep, i, j) end
  local first, last = 1, nil
  if i ~= nil then first = to_int(i) end
  if j ~= nil then last = to_int(j) end
  local sp = sep == nil and "" or as_text(sep)
  if sp == nil or first == nil or (j ~= nil and last == nil) then return table_concat(t, sep, i, j) end
  local len = #t
  if last == nil then last = len end
  local buf, k = {}, 0
  for idx = first, last do
    local v = t[idx]
    local tv = type(v)
    if tv ~= "string" and tv ~= "number" then
      error(string_format("invalid value (at index %d) in table for 'concat'", idx), 2)
    end
    k = k + 1
    buf[k] = v
    if idx ~= last then
      k = k + 1
      buf[k] = sp
    end
  end
  return table_concat(buf, "", 1, k)
end

local function safe_insert(t, ...)
  if select("#", ...) ~= 2 or type(t) ~= "table" or raw_getmetatable(t) == nil then return table_insert(t, ...) end
  local pos, v = ...
  local e = #t + 1
  local p = to_int(pos)
  if p == nil then return table_insert(t, ...) end
  if p < 1 or p > e then error("bad argument #2 to 'insert' (position out of bounds)", 2) end
  for k = e, p + 1, -1 do t[k] = t[k - 1] end
  t[p] = v
end

local function safe_remove(t, pos)
  if type(t) ~= "table" or raw_getmetatable(t) == nil then return table_remove(t, pos) end
  local size = #t
  local p = size
  if pos ~= nil then p = to_int(pos) end
  if p == nil then return table_remove(t, pos) end
  if p ~= size and (p < 1 or p > size + 1) then error("bad argument #2 to 'remove' (position out of bounds)", 2) end
  local result = t[p]
  for k = p, size - 1 do t[k] = t[k + 1] end
  if size > p then p = size end
  t[p] = nil
  return result
end

-- table.move walks its whole range whatever the tables hold: a long range runs in Lua.
local function safe_move(a1, f, e, t, a2)
  local ff, ee, tt = to_int(f), to_int(e), to_int(t)
  if ff == nil or ee == nil or tt == nil or ee < ff or ee - ff < MOVE_FREE then
    return table_move(a1, f, e, t, a2)
  end
  table_move(a1, 1, 0, 1, a2)  -- Lua's own checks of the tables (an empty range moves nothing)
  if not (ff > 0 or ee < maxinteger + ff) then error("bad argument #3 to 'move' (too many elements to move)", 2) end
  local n = ee - ff + 1
  if tt > maxinteger - n + 1 then error("bad argument #4 to 'move' (destination wrap around)", 2) end
  local dest = a1
  if a2 ~= nil then dest = a2 end
  if tt > ee or tt > ff or (a2 ~= nil and a1 ~= a2) then
    for k = 0, n - 1 do dest[tt + k] = a1[ff + k] end
  else
    for k = n - 1, 0, -1 do dest[tt + k] = a1[ff + k] end
  end
  return dest
end

-- table.sort compares in C without a hook: comparing long strings there, or
-- calling a C comparator, could take any time. A Lua comparator is hooked.
local function default_less(a, b) return a < b end

local function safe_sort(t, comp)
  if comp == nil then return table_sort(t, default_less) end
  if type(comp) == "function" and getinfo(comp, "S").what == "C" then
    local c = comp
    return table_sort(t, function(a, b) return c(a, b) end)
  end
  return table_sort(t, comp)
end

local safe_string = copy(string, {"byte", "char", "find", "format", "gmatch", "gsub", "len", "lower",
  "match", "rep", "reverse", "sub", "upper", "pack", "packsize", "unpack"})
safe_string.find, safe_string.match, safe_string.gmatch, safe_string.gsub = safe_find, safe_match, safe_gmatch, safe_gsub
if not is54 then
  -- Lua 5.4's VMs have a hard allocation cap (lupa's max_memory): a result past
  -- it fails at once, one below it is a single copy, and the request's next
  -- hook (brought forward by the collection it triggers) ends a page past its
  -- budget. LuaJIT's VMs have no such cap, so the size is checked first there.
  safe_string.rep = safe_rep
end

local safe_table = copy(table, {"concat", "insert", "move", "pack", "remove", "sort", "unpack"})
safe_table.sort = safe_sort
if is54 then
  safe_table.concat, safe_table.insert, safe_table.remove, safe_table.move = safe_concat, safe_insert, safe_remove, safe_move
end

if not is54 then
  -- LuaJIT's collector seldom finishes a cycle while one page grows a large
  -- string, so the finalizer above cannot be relied on to bring the hook
  -- forward: a library call that returns a large string does it instead.
  local function watched(f)
    return function(...)
      local r = f(...)
      if type(r) == "string" and #r > REP_FREE then sethook(hook, "", 1) end
      return r
    end
  end
  for _, name in ipairs({"upper", "lower", "reverse", "sub", "format", "rep", "char"}) do
    safe_string[name] = watched(safe_string[name])
  end
  safe_table.concat = watched(safe_table.concat)
end

local safe_os = copy(os, {"clock", "date", "difftime", "time"})

-- Strings' methods come from this metatable: `("").rep` is the guarded
-- string.rep, and `("").dump` is nil. Pages can neither see nor change it.
do
  local string_meta = raw_getmetatable("")
  string_meta.__index = safe_string
  string_meta.__metatable = false
end

-- math.random: a generator per request, seeded from the OS. A page that
-- seeds or reads its generator learns nothing of another request's numbers.
local safe_math = {}
for k, v in pairs(math) do safe_math[k] = v end
safe_math.randomseed = nil
local native_random, native_randomseed = math.random, math.randomseed

local function generator(st)
  local g = st.rng
  if not g then
    if random54 then
      g = random54.new(host_seed())
    else
      g = {}
      local b = {string_byte(host_seed(), 1, 16)}
      for k = 0, 3 do
        g[k + 1] = b[4 * k + 1] + b[4 * k + 2] * 256 + b[4 * k + 3] * 65536 + b[4 * k + 4] * 16777216
      end
      if g[1] + g[2] + g[3] + g[4] == 0 then g[1] = 1 end
    end
    st.rng = g
  end
  return g
end

if random54 then
  local random, randomseed = random54.random, random54.randomseed
  safe_math.random = function(...) return random(generator(state_of()), native_random, ...) end
  safe_math.randomseed = function(...)
    return randomseed(generator(state_of()), native_randomseed, host_seed, ...)
  end
else
  -- LuaJIT: xoshiro128** on 32-bit words (bit library), 53-bit doubles.
  local band, bor, bxor, lshift, rshift, rol, tobit = bit.band, bit.bor, bit.bxor, bit.lshift, bit.rshift, bit.rol, bit.tobit
  local function next32(s)
    local s0, s1, s2, s3 = s[1], s[2], s[3], s[4]
    local result = tobit(rol(tobit(s1 * 5), 7) * 9)
    local t = lshift(s1, 9)
    s2 = bxor(s2, s0)
    s3 = bxor(s3, s1)
    s1 = bxor(s1, s2)
    s0 = bxor(s0, s3)
    s2 = bxor(s2, t)
    s3 = rol(s3, 11)
    s[1], s[2], s[3], s[4] = s0, s1, s2, s3
    return result % 4294967296
  end
  local function next_double(s)
    local a, b = floor(next32(s) / 32), floor(next32(s) / 64)
    return (a * 67108864 + b) / 9007199254740992
  end
  local function seed(s, n)
    n = tobit(n)
    s[1], s[2], s[3], s[4] = n, 0x9e3779b9, bxor(n, 0x7f4a7c15), 0x6a09e667
    for _ = 1, 16 do next32(s) end
  end
  safe_math.random = function(...)
    local s = generator(state_of())
    local d = next_double(s)
    local nargs = select("#", ...)
    if nargs == 0 then return d end
    local m = tonumber((...))
    if m == nil or nargs > 2 then return native_random(...) end
    if nargs == 1 then
      if m < 1 then return native_random(...) end
      return floor(d * m) + 1
    end
    local n = tonumber((select(2, ...)))
    if n == nil or m > n then return native_random(...) end
    return floor(d * (n - m + 1)) + m
  end
  safe_math.randomseed = function(x)
    local s = generator(state_of())
    local n = tonumber(x)
    if n == nil then return native_randomseed(x) end
    seed(s, n % 4294967296)
  end
end

-- Text chunks only (binary chunks bypass the compiler's checks), and a chunk
-- sees the calling request's environment unless it is given another: with
-- no environment, LuaJIT would give it the VM's real globals (io, os, debug).
local function safe_load(chunk, name, mode, env)
  if mode ~= nil and mode ~= "t" then error("only text chunks can be loaded", 2) end
  local st = state_of()
  if type(chunk) == "string" then
    if string_sub(chunk, 1, 1) == "\27" then error("binary chunks are not allowed", 2) end
    if #chunk > LOAD_INLINE and not st.threaded then leave_inline(st) end
  end
  if env == nil then env = st.env end
  return load(chunk, name, "t", env)
end

local function safe_collectgarbage(opt)
  if opt == nil or opt == "count" then return collectgarbage("count") end
  error("collectgarbage('" .. tostring(opt) .. "') is not allowed", 2)
end

-- Coroutines: pages may use their own. Each acts for the request that made
-- it; host calls made inside one still reach the host, and the request's
-- budget hook follows into it.
local HOST = setmetatable({}, {__tostring = function() return "host call" end, __metatable = false})

local function pass_host(co, ok, ...)
  if ok and rawequal((...), HOST) and coroutine_status(co) == "suspended" then
    return pass_host(co, coroutine_resume(co, coroutine_yield(...)))
  end
  return rethrow_fatal(ok, ...)
end

local function co_resume(co, ...)
  return pass_host(co, coroutine_resume(co, ...))
end

local function co_create(f)
  local st = state_of()
  local co = coroutine_create(f)
  local _, _, step = gethook()
  sethook(co, hook, "", step or HOOK_STEP + HOOK_TAIL)
  states[co] = st
  return co
end

local function co_wrap(f)
  local co = co_create(f)
  return function(...)
    local function unwrap(ok, ...)
      if not ok then error((...), 0) end
      return ...
    end
    return unwrap(co_resume(co, ...))
  end
end

local safe_coroutine = {
  create = co_create, resume = co_resume, wrap = co_wrap,
  yield = coroutine_yield, status = coroutine_status, running = coroutine_running,
  isyieldable = coroutine_isyieldable,
}
if coroutine_close then
  safe_coroutine.close = function(co) return rethrow_fatal(coroutine_close(co)) end
end

local prelude = {
  assert = assert, error = error, ipairs = ipairs, next = next, pairs = pairs,
  pcall = safe_pcall, xpcall = safe_xpcall, select = select, tonumber = tonumber,
  tostring = tostring, type = type, rawequal = rawequal, rawget = rawget, rawlen = rawlen,
  rawset = safe_rawset, setmetatable = safe_setmetatable, getmetatable = getmetatable,
  load = safe_load, collectgarbage = safe_collectgarbage, _VERSION = _VERSION,
  unpack = table_unpack,
  string = readonly(safe_string, "string"),
  table = readonly(safe_table, "table"),
  math = readonly(safe_math, "math"),
  utf8 = utf8 and readonly(utf8, "utf8"),
  os = readonly(safe_os, "os"),
  coroutine = readonly(safe_coroutine, "coroutine"),
}
local prelude_meta = {__index = prelude, __metatable = false}
shared[prelude] = true

-- Host calls -------------------------------------------------------------------

local OUTPUT_CHUNK = 16384

-- `st.D(op, ...)` is the request's host dispatcher (a Python callable bound to
-- that request only, which calls the host-call table): true and the value,
-- false and a message, "yield" when the call waits on I/O (the coroutine then
-- yields to the host), or "budget", kind, message. Thread VMs send every call
-- through the host loop.
-- A host call's answer: its value, or the error it raises where the page called the API (reached by a tail call
-- from `call` and `call_waiting`, so that level 3 is still the page's call).
local function answered(st, ok, v, m)
  if ok == true then return v end
  if ok == "budget" then fail(st, v, m) end
  error(v, 3)
end

local function call(op, ...)
  local st = state_of()
  local failed = st.failed
  if failed then error(failed, 0) end
  local ok, v, m
  if st.threaded then
    ok, v = coroutine_yield(HOST, op, ...)
  else
    ok, v, m = st.D(op, ...)
    if ok == "yield" then ok, v = coroutine_yield(HOST, op, ...) end
  end
  return answered(st, ok, v, m)
end

-- A host call made as a wait at once (the host answers it from `_run`): for a call that would only find that it
-- must wait, asked first at once (`call`) it costs a trip to the host for nothing.
local function call_waiting(op, ...)
  local st = state_of()
  local failed = st.failed
  if failed then error(failed, 0) end
  return answered(st, coroutine_yield(HOST, op, ...))
end

local function take_output(st)
  if st.n == 0 then return "" end
  local s = table_concat(st.out, "", 1, st.n)
  st.out, st.n, st.size = {}, 0, 0
  return s
end

local function write(st, s)
  local n = st.n + 1
  st.n = n
  st.out[n] = s
  st.size = st.size + #s
  if st.size >= OUTPUT_CHUNK then
    call("write", take_output(st))
  end
end

local function share(t, name, mt)
  mt = mt or {}
  -- The fields move to a table no page can reach, so that assigning to one,
  -- existing or not, meets __newindex and is refused. Left in `t` they would
  -- take a plain assignment: a page could swap `cache.get` or `http.request`
  -- for its own function, which every later request of every site on the VM
  -- would then call with its own arguments.
  if next(t) ~= nil then
    local fields = {}
    for k, v in pairs(t) do fields[k] = v end
    for k in pairs(fields) do rawset(t, k, nil) end
    local index = mt.__index
    if index == nil then
      mt.__index = fields
    elseif type(index) == "function" then
      mt.__index = function(tb, k)
        local v = fields[k]
        if v ~= nil then return v end
        return index(tb, k)
      end
    else
      mt.__index = function(tb, k)
        local v = fields[k]
        if v ~= nil then return v end
        return index[k]
      end
    end
  end
  shared[t] = true
  mt.__metatable = false
  if mt.__newindex == nil then
    mt.__newindex = function() error("attempt to modify read-only table '" .. name .. "'", 2) end
  end
  return setmetatable(t, mt)
end

-- A table whose string keys are looked up lower-cased (header names). Its
-- metatable is hidden: it is the same for every request.
local ci_meta = {__index = function(t, k)
  if type(k) == "string" then return rawget(t, string_lower(k)) end
end, __metatable = false}

local request_api = {
  body = function() return call("body") end,
  form = function() return call("form") end,
  json = function() return call("json") end,
  header = function(name) return call("header_in", name) end,
}
local request = share({}, "request", {__index = function(t, k)
  local f = request_api[k]
  if f then return f end
  local st = state_of()
  local v = st.req[k]
  if v == nil then
    v = call("req", k)
    if v ~= nil then
      if k == "headers" then setmetatable(v, ci_meta) end
      st.req[k] = v
    end
  end
  return v
end, __newindex = function() error("request is read-only", 2) end})

local response_headers = share({}, "response.headers", {
  __index = function(t, k) return call("get_header", k) end,
  __newindex = function(t, k, v) call("set_header", k, v) end,
})

local response_api = {
  headers = response_headers,
  write = function(...)
    local st = state_of()
    for i = 1, select("#", ...) do write(st, tostring((select(i, ...)))) end
  end,
  flush = function() call("flush", take_output(state_of())) end,
  header = function(k, v) call("set_header", k, v) end,
  add_header = function(k, v) call("add_header", k, v) end,
  set_cookie = function(name, value, opts) call("set_cookie", name, value, opts) end,
  redirect = function(location, status) call("redirect", location, status) end,
  json = function(value, status) call("write", take_output(state_of())); call("json_out", value, status) end,
  cache = function(ttl, opts) call("cache_response", ttl, opts) end,
  -- A template of the site (docs/templates.md), written after what the page wrote so far.
  render = function(name, values) write(state_of(), call("template_render", name, values)) end,
}
local response = share({}, "response", {
  __index = function(t, k)
    if k == "status" then return call("get_status") end
    return response_api[k]
  end,
  __newindex = function(t, k, v)
    if k == "status" then call("status", v) else error("cannot set response." .. tostring(k), 2) end
  end,
})

local api = {
  request = request,
  response = response,
  cache = share({
    get = function(k) return call("cache_get", k) end,
    set = function(k, v, ttl) return call("cache_set", k, v, ttl) end,
    delete = function(k) return call("cache_delete", k) end,
    incr = function(k, n, ttl) return call("cache_incr", k, n, ttl) end,
    purge = function(what) return call("cache_purge", what) end,
  }, "cache"),
  fs = share({
    read = function(p) return call("fs_read_bytes", p) end,
    exists = function(p) return call("fs_exists", p) end,
    list = function(p) return call("fs_list", p) end,
    stat = function(p) return call("fs_stat", p) end,
  }, "fs"),
  log = share({
    debug = function(m) call("log", "debug", tostring(m)) end,
    info = function(m) call("log", "info", tostring(m)) end,
    warn = function(m) call("log", "warn", tostring(m)) end,
    error = function(m) call("log", "error", tostring(m)) end,
  }, "log"),
  json = share({
    encode = function(v) return call("json_encode", v) end,
    decode = function(s)
      -- Parsed in the host's event loop, in one call: the text's size bounds how long it takes.
      if type(s) == "string" and #s > JSON_MAX then
        error(string_format("json.decode: %d bytes of text is more than the %d a page may decode at once", #s, JSON_MAX), 2)
      end
      return call("json_decode", s)
    end,
  }, "json"),
  print = function(...)
    local st = state_of()
    local n = select("#", ...)
    for i = 1, n do
      if i > 1 then write(st, "\t") end
      write(st, tostring((select(i, ...))))
    end
    write(st, "\n")
  end,
  sleep = function(s) return call("sleep", s) end,
  template = share({
    render = function(name, values) return call("template_render", name, values) end,
  }, "template"),
  -- The visitor's session (docs/host-api.md): values kept across requests under a signed cookie.
  session = share({
    get = function(k) return call("session_get", k) end,
    set = function(k, v) return call("session_set", k, v) end,
    delete = function(k) return call("session_delete", k) end,
    regenerate = function() return call("session_regenerate") end,
  }, "session"),
  http = share({
    -- The body goes as its own argument so that its bytes reach the host as they are.
    request = function(o)
      if type(o) ~= "table" then error("http.request takes a table of options {method=, url=, headers=, body=}", 2) end
      local opts = {}
      for k, v in pairs(o) do if k ~= "body" then opts[k] = v end end
      return call("http_request", o.body, opts)
    end,
  }, "http"),
  -- require: what `package.preload` has, else a module of the site found on
  -- `package.path` by the host (which resolves every candidate inside the
  -- site root), run in the request's environment. `package.loaded` is the
  -- request's own: nothing a module builds outlives its request.
  require = function(name)
    if type(name) ~= "string" then error("module name must be a string", 2) end
    local st = state_of()
    local pkg = st.package
    local loaded = pkg.loaded
    if type(loaded) ~= "table" then error("package.loaded must be a table", 2) end
    local m = loaded[name]
    if m ~= nil then return m end
    local preload = pkg.preload
    local loader, extra = type(preload) == "table" and preload[name] or nil, ":preload:"
    if loader == nil then
      local path = pkg.path
      if type(path) ~= "string" then error("package.path must be a string", 2) end
      local chunk, where = st.loader(name, path, false)
      if not chunk then error(where, 2) end
      local env = st.env
      loader, extra = function(...) return chunk(env, ...) end, where
    end
    local result = loader(name, extra)
    if result ~= nil then
      loaded[name] = result
    elseif loaded[name] == nil then
      loaded[name] = true
    end
    return loaded[name]
  end,
  -- What pure-Lua libraries expect of `io` and `debug`, and no more: output
  -- goes to the response (stdout) or the server log (stderr); no file is
  -- ever opened (pages read the site's files with `fs`), and `debug` has
  -- only `traceback` (the hooks and metatables stay the sandbox's).
  io = share({
    write = function(...)
      local st = state_of()
      for i = 1, select("#", ...) do write(st, tostring((select(i, ...)))) end
      return prelude.io
    end,
    stdout = share({write = function(self, ...)
      local st = state_of()
      for i = 1, select("#", ...) do write(st, tostring((select(i, ...)))) end
      return self
    end}, "io.stdout"),
    stderr = share({write = function(self, ...)
      local parts = table_pack(...)
      for i = 1, parts.n do parts[i] = tostring(parts[i]) end
      call("log", "warn", table_concat(parts, "", 1, parts.n))
      return self
    end}, "io.stderr"),
    open = function() return nil, "io.open is not available to pages: read the site's files with fs.read" end,
    type = function() return nil end,
    read = function() error("io.read is not available to pages", 2) end,
    lines = function() error("io.lines is not available to pages: read the site's files with fs.read", 2) end,
  }, "io"),
  debug = share({traceback = function(...) return traceback(...) end}, "debug"),
}

-- WebSockets, event streams and channels (docs/websocket.md) -------------------
-- The objects a page gets are its own tables; their methods are shared and
-- read-only, and name the request's WebSocket, stream or subscription by a
-- number that means something for that request only.

local sub_methods = share({
  -- The next message of the channel; nil when `timeout` seconds passed first.
  receive = function(self, timeout)
    local v = call("channel_receive", rawget(self, "id"), timeout)
    state_of().count = 0  -- instructions are budgeted per message
    return v
  end,
  close = function(self) call("channel_unsubscribe", rawget(self, "id")) end,
}, "subscription")
local sub_meta = {__index = sub_methods, __metatable = false}

local ws_methods = share({
  -- ws:receive(sub..., timeout): a message from the peer (msg, "text"|"binary"), or from one of the
  -- subscriptions (msg, "channel", name), or nil, "timeout"; nil once the connection is closed.
  receive = function(self, ...)
    local ids, timeout = {}, nil
    for i = 1, select("#", ...) do
      local v = select(i, ...)
      if type(v) == "number" then
        timeout = v
      elseif type(v) == "table" and raw_getmetatable(v) == sub_meta then
        ids[#ids + 1] = rawget(v, "id")
      else
        error("ws:receive takes channel subscriptions and a timeout in seconds", 2)
      end
    end
    local st = state_of()
    local r
    if st.ws_queued then
      r = call("ws_receive", ids[1] and ids or nil, timeout)
    else
      -- Nothing of the peer's was waiting behind the last message (a peer that waits for each answer, as most
      -- do): its next one is not here yet either, and the call waits for it at once.
      r = call_waiting("ws_receive", ids[1] and ids or nil, timeout)
    end
    st.count = 0  -- instructions are budgeted per message
    st.ws_queued = r ~= nil and r.queued
    if r == nil then return nil end
    if r.kind == "timeout" then return nil, "timeout" end
    return r.data, r.kind, r.channel
  end,
  send = function(self, msg, kind)
    if type(msg) ~= "string" then msg = tostring(msg) end
    return call("ws_send", msg, kind)
  end,
  close = function(self, code, reason) call("ws_close", code, reason) end,
  info = function(self) return call("ws_info") end,
}, "websocket")
local ws_meta = {__index = ws_methods, __metatable = false}

local sse_methods = share({
  send = function(self, e)
    if type(e) ~= "table" then e = {data = tostring(e)} end
    call("sse_send", e)
  end,
  comment = function(self, text) call("sse_comment", text) end,
}, "event stream")
local sse_meta = {__index = sse_methods, __metatable = false}

api.websocket = share({
  -- nil when the request is not a WebSocket handshake (then 426, unless the page writes its own answer).
  accept = function(opts)
    local r = call("ws_accept", opts)
    if r == nil then return nil end
    -- From now on the page's time budget is the connection's lifetime.
    state_of().deadline = host_now() + r.lifetime
    return setmetatable({protocol = r.protocol}, ws_meta)
  end,
}, "websocket")

api.channel = share({
  publish = function(name, msg) return call("channel_publish", name, msg) end,
  subscribe = function(name)
    return setmetatable({id = call("channel_subscribe", name), name = name}, sub_meta)
  end,
}, "channel")

response_api.sse = function()
  local st = state_of()
  local r = call("sse_start")
  st.deadline = host_now() + r.lifetime
  return setmetatable({last_event_id = r.last_event_id}, sse_meta)
end

for k, v in pairs(api) do prelude[k] = v end

-- `package`, made for each request (Lua's own `package` and `require` would
-- reach the file system and C libraries). Its `loaded` starts with the
-- standard libraries, looked up in a shared read-only table.
local PACKAGE_CONFIG = "/\n;\n?\n!\n-\n"
local PACKAGE_PATH = "_lib/?.lua;_lib/?/init.lua"
local builtin_modules = {}
for _, name in ipairs({"string", "table", "math", "utf8", "os", "coroutine", "io", "debug"}) do
  builtin_modules[name] = prelude[name]
end
local loaded_meta = {__index = builtin_modules, __metatable = false}

-- package.searchpath(name, path [, sep [, rep]]): the first file of the site
-- that `path` gives for `name`, found by the host like require's.
local function searchpath(name, path, sep, rep)
  if type(name) ~= "string" then error("bad argument #1 to 'searchpath' (string expected)", 2) end
  if type(path) ~= "string" then error("bad argument #2 to 'searchpath' (string expected)", 2) end
  if sep ~= nil and type(sep) ~= "string" then error("bad argument #3 to 'searchpath' (string expected)", 2) end
  if rep ~= nil and type(rep) ~= "string" then error("bad argument #4 to 'searchpath' (string expected)", 2) end
  local file, tried = state_of().loader(name, path, true, sep or ".", rep or "/")
  if file then return file end
  return nil, tried
end

local function new_env(D, threaded, loader)
  local env = setmetatable({}, prelude_meta)
  env._G = env
  local pkg = {config = PACKAGE_CONFIG, path = PACKAGE_PATH, loaded = setmetatable({}, loaded_meta), preload = {},
               searchpath = searchpath}
  pkg.loaded._G = env
  pkg.loaded.package = pkg
  env.package = pkg
  -- Every field `start` and the hook use is made here, so the table is sized once.
  local st = {D = D, threaded = threaded, loader = loader, env = env, package = pkg,
              out = {}, n = 0, size = 0, req = {},
              count = 0, instructions = 0, memory = 0, mem_limit = 0, mem_start = false, mem_paused = 0, deadline = 0,
              preemptible = false, slice = false, slice_end = false, block = false, block_end = false,
              skip = 0, skipped = 0, last_now = false, step_budget = 0, failed = false, rng = false}
  return env, st
end

-- Running a page -----------------------------------------------------------

local function error_handler(e)
  if is_fatal(e) then return e end
  return {message = tostring(e), traceback = traceback(tostring(e), 2)}
end

local function outcome(st, ok, err)
  if st.failed then
    local info = budget_info[st.failed]
    return "budget", info[1], info[2]
  end
  if is_budget(err) then
    local info = budget_info[err]
    return "budget", info[1], info[2]
  end
  if err == "not enough memory" then
    return "budget", "memory", "page ran out of memory"
  end
  if type(err) == "table" and err.message then return "fail", err.message, err.traceback end
  return "fail", tostring(err), ""
end

-- The host resumes with this so it can tell a host call from the end.
local function resume(st, co, ...)
  if not st.mem_start then
    -- First run: a thread VM runs one request at a time, so what it holds
    -- above its floor is garbage; collecting it keeps the floor honest.
    local mem = collectgarbage("count")
    if mem < vm_floor then vm_floor = mem end
    if st.threaded and mem - vm_floor > REBASE_KB then
      collectgarbage("collect")
      mem = collectgarbage("count")
      vm_floor = mem
    end
    st.mem_start = mem
    sethook(co, hook, "", step_for(st, mem) + HOOK_TAIL)
  elseif not st.threaded then
    -- Resumed after a host call. What other requests did to the VM while this
    -- one waited (what they allocated, what the collector freed) is not its
    -- growth: it counts from where it stands now.
    st.mem_start = st.mem_start + (collectgarbage("count") - st.mem_paused)
    -- Its inline slice counts from now.
    local now = host_now()
    if st.preemptible then
      st.slice_end = now + st.slice
    elseif st.block then
      st.block_end = now + st.block
    end
  end
  local r = table_pack(coroutine_resume(co, ...))
  if not st.threaded and collectgarbage("count") - st.mem_start > SEGMENT_KB then
    -- What the run leaves as garbage must not be collected during another
    -- request's run, where it would hide that request's growth.
    collectgarbage("collect")
  end
  if not r[1] then return outcome(st, false, r[2]) end
  if coroutine_status(co) == "dead" then
    return table_unpack(r, 2, r.n)
  end
  if not rawequal(r[2], HOST) then
    -- The page yielded from its main chunk: there is no coroutine to yield to.
    return "fail", "attempt to yield from outside a coroutine", ""
  end
  st.mem_paused = collectgarbage("count")
  return "call", table_unpack(r, 3, r.n)
end

-- Returns a step function that resumes a coroutine that runs `chunk(env)`
-- under the request's budgets and finally returns "done" or "fail" (or
-- "budget") with what the host needs, and a function the host calls when the
-- page can no longer be run again from the top.
-- now: the host's clock; wall: the time budget; slice: seconds before an
-- inline page moves to a thread VM (nil: not preemptible); block: seconds an
-- inline page that cannot move may compute between two host calls.
local function start(chunk, env, st, instructions, memory, now, wall, slice, block)
  st.count = 0
  st.instructions = instructions
  st.memory = memory
  st.mem_limit = memory / 1024
  st.deadline = now + wall
  st.preemptible = slice ~= nil
  st.slice = slice
  st.slice_end = slice and now + slice
  st.block = block
  st.skip, st.skipped = 0, 0
  st.step_budget = st.threaded and STEP_BUDGET_THREAD or STEP_BUDGET_INLINE
  local co = coroutine_create(function()
    local ok, err = xpcall(chunk, error_handler, env)
    if ok and not st.failed then
      return "done", take_output(st)
    end
    return outcome(st, ok, err)
  end)
  states[co] = st
  local function set_preemptible(flag)
    st.preemptible = flag
    if not flag and st.block and not st.threaded then st.block_end = host_now() + st.block end
  end
  local function step(...) return resume(st, co, ...) end
  return step, set_preemptible
end

-- Compiles a page or module; also returns the memory it grew the VM by (KB,
-- with the collector stopped, so at least the chunk's size): the host lowers
-- the VM's floor by it when the chunk is replaced.
local function compile(source, name)
  collectgarbage("stop")
  local before = collectgarbage("count")
  local f, err
  if is54 then
    -- `_ENV` becomes the chunk's first argument, so one compiled chunk serves
    -- every request, each with its own environment, even when they interleave.
    -- The chunk's own `...` are the arguments after it (a module's name and
    -- file, as `require` gives them), on the same line so line numbers hold.
    f, err = load("local _ENV = ...; return (function(_ENV, ...) " .. source .. "\nend)(...)", "@" .. name, "t")
  else
    -- LuaJIT (Lua 5.1 rules) has no _ENV: the page is compiled once as the
    -- body of a function, and each request gets a fresh closure of it with
    -- its own environment.
    local make
    make, err = load("return function(...) " .. source .. "\nend", "@" .. name, "t")
    if make then
      f = function(env, ...)
        local g = make()
        setfenv(g, env)
        return g(...)
      end
    end
  end
  local grown = collectgarbage("count") - before
  collectgarbage("restart")
  return f, err, grown
end

-- The host drops a compiled chunk: the VM's floor comes down by what it took.
local function forget(kb)
  vm_floor = vm_floor - kb
end

collectgarbage("collect")
vm_floor = collectgarbage("count")

return {new_env = new_env, start = start, compile = compile, forget = forget}
