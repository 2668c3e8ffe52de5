-- The Lua side of DynLan's Lua runtime, run once per VM with full access,
-- before any page. It keeps private references to what pages must not reach
-- (debug, coroutine internals, the real string metatable) and returns the
-- functions the host drives requests with.

local host_now, host_read_module = ...

local coroutine_create, coroutine_resume, coroutine_yield = coroutine.create, coroutine.resume, coroutine.yield
local coroutine_status, coroutine_running, coroutine_isyieldable = coroutine.status, coroutine.running, coroutine.isyieldable
local coroutine_close = coroutine.close
local sethook, gethook, traceback = debug.sethook, debug.gethook, debug.traceback
local setmetatable, getmetatable, rawget, rawset, rawequal, rawlen = setmetatable, getmetatable, rawget, rawset, rawequal, rawlen
local type, error, pairs, ipairs, next, select, tostring, tonumber = type, error, pairs, ipairs, next, select, tostring, tonumber
local pcall, xpcall, load, assert = pcall, xpcall, load, assert
local collectgarbage = collectgarbage
local table_concat = table.concat
local table_unpack = table.unpack or unpack
local table_pack = table.pack or function(...) return {n = select("#", ...), ...} end
local setfenv = setfenv
local string_format, string_sub, string_find, string_lower = string.format, string.sub, string.find, string.lower

-- A string's methods come from this metatable; a page must not change it for
-- everyone else (state leaking between requests).
getmetatable("").__metatable = false

local HOST = setmetatable({}, {__tostring = function() return "host call" end})
local BUDGET = {}   -- metatable marking budget errors: pcall cannot swallow them

local function is_budget(e)
  return type(e) == "table" and getmetatable(e) == BUDGET
end

local function budget_error(kind, message)
  return setmetatable({kind = kind, message = message}, BUDGET)
end

local function is_fatal(e)
  return is_budget(e) or e == "not enough memory"
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

local safe_string = copy(string, {"byte", "char", "find", "format", "gmatch", "gsub", "len", "lower",
  "match", "rep", "reverse", "sub", "upper", "pack", "packsize", "unpack"})
local safe_table = copy(table, {"concat", "insert", "move", "pack", "remove", "sort", "unpack"})
local safe_os = copy(os, {"clock", "date", "difftime", "time"})

local function safe_rawset(t, k, v)
  if shared[t] then error("attempt to modify read-only table", 2) end
  return rawset(t, k, v)
end

local function safe_setmetatable(t, mt)
  if shared[t] then error("cannot change a protected metatable", 2) end
  return setmetatable(t, mt)
end

-- Budget errors and memory exhaustion pass through pcall: a page cannot catch
-- its way past its budget.
local function rethrow_fatal(ok, ...)
  if not ok and is_fatal((...)) then error((...), 0) end
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

-- Text chunks only: binary chunks bypass the compiler's checks.
local function safe_load(chunk, name, mode, env)
  if mode ~= nil and mode ~= "t" then error("only text chunks can be loaded", 2) end
  if type(chunk) == "string" and string_sub(chunk, 1, 1) == "\27" then
    error("binary chunks are not allowed", 2)
  end
  return load(chunk, name, "t", env)
end

local function safe_collectgarbage(opt)
  if opt == nil or opt == "count" then return collectgarbage("count") end
  error("collectgarbage('" .. tostring(opt) .. "') is not allowed", 2)
end

-- Coroutines: pages may use their own; host calls made inside one still
-- reach the host, and the request's budget hook follows into it.
local function pass_host(co, ok, ...)
  if ok and rawequal((...), HOST) and coroutine_status(co) == "suspended" then
    return pass_host(co, coroutine_resume(co, coroutine_yield(...)))
  end
  if not ok and is_fatal((...)) then error((...), 0) end
  return ok, ...
end

local function co_resume(co, ...)
  return pass_host(co, coroutine_resume(co, ...))
end

local function co_create(f)
  local co = coroutine_create(f)
  local hook, mask, count = gethook()
  if hook then sethook(co, hook, mask, count) end
  states[co] = states[coroutine_running()]
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
  isyieldable = coroutine_isyieldable, close = coroutine_close,
}

local prelude = {
  assert = assert, error = error, ipairs = ipairs, next = next, pairs = pairs,
  pcall = safe_pcall, xpcall = safe_xpcall, select = select, tonumber = tonumber,
  tostring = tostring, type = type, rawequal = rawequal, rawget = rawget, rawlen = rawlen,
  rawset = safe_rawset, setmetatable = safe_setmetatable, getmetatable = getmetatable,
  load = safe_load, collectgarbage = safe_collectgarbage, _VERSION = _VERSION,
  unpack = table_unpack,
  string = readonly(safe_string, "string"),
  table = readonly(safe_table, "table"),
  math = readonly(math, "math"),
  utf8 = utf8 and readonly(utf8, "utf8"),
  os = readonly(safe_os, "os"),
  coroutine = readonly(safe_coroutine, "coroutine"),
}
local prelude_meta = {__index = prelude, __metatable = false}
shared[prelude] = true

-- Per-request environment --------------------------------------------------

-- The host API tables are built once per VM and shared by every request; each
-- call finds its request's state through the running coroutine (pages'
-- own coroutines inherit their creator's state). What a page sets lives in its
-- own environment table and state, never in these shared tables.
local states = setmetatable({}, {__mode = "k"})
local OUTPUT_CHUNK = 16384

local function state_of()
  local st = states[coroutine_running()]
  if st == nil then error("host API used outside a request", 3) end
  return st
end

-- `D(op, ...)` is the request's host dispatcher (a Python callable bound to
-- this request only). It returns ok, value; "yield" means the call waits on
-- I/O and goes through the host loop. Threaded VMs send every call there.
local function call(op, ...)
  local st = state_of()
  local ok, v
  if st.threaded then
    ok, v = coroutine_yield(HOST, op, ...)
  else
    ok, v = st.D(op, ...)
    if ok == "yield" then ok, v = coroutine_yield(HOST, op, ...) end
  end
  if not ok then error(v, 3) end
  return v
end

local function io(op, ...)
  local ok, v = coroutine_yield(HOST, op, ...)
  if not ok then error(v, 3) end
  return v
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
  shared[t] = true
  mt = mt or {}
  mt.__metatable = false
  if mt.__newindex == nil then
    mt.__newindex = function() error("attempt to modify read-only table '" .. name .. "'", 2) end
  end
  return setmetatable(t, mt)
end

local request_api = {
  body = function() return io("body") end,
  form = function() io("body"); return call("form") end,
  json = function() io("body"); return call("json") end,
  header = function(name) return call("header_in", name) end,
}
local request = share({}, "request", {__index = function(t, k)
  local f = request_api[k]
  if f then return f end
  local st = state_of()
  local v = st.req[k]
  if v == nil then
    v = call("req", k)
    if v ~= nil then st.req[k] = v end
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
  flush = function() io("flush", take_output(state_of())) end,
  header = function(k, v) call("set_header", k, v) end,
  add_header = function(k, v) call("add_header", k, v) end,
  set_cookie = function(name, value, opts) call("set_cookie", name, value, opts) end,
  redirect = function(location, status) call("redirect", location, status) end,
  json = function(value, status) call("write", take_output(state_of())); call("json_out", value, status) end,
  cache = function(ttl, opts) call("cache_response", ttl, opts) end,
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
    read = function(p) return call("fs_read", p) end,
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
    decode = function(s) return call("json_decode", s) end,
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
  sleep = function(s) return io("sleep", s) end,
  -- require: modules from the site only, run in the request's environment.
  require = function(name)
    if type(name) ~= "string" then error("module name must be a string", 2) end
    local st = state_of()
    local m = st.loaded[name]
    if m ~= nil then return m end
    local chunk, err = st.loader(name)
    if not chunk then error(err, 2) end
    st.loaded[name] = true
    local result = chunk(st.env)
    if result == nil then result = true end
    st.loaded[name] = result
    return result
  end,
}
for k, v in pairs(api) do prelude[k] = v end

local function new_env(D, threaded, loader)
  local env = setmetatable({}, prelude_meta)
  env._G = env
  local st = {D = D, threaded = threaded, loader = loader, env = env,
              out = {}, n = 0, size = 0, req = {}, loaded = {}}
  return env, st
end

-- Running a page -----------------------------------------------------------

local HOOK_STEP = 10000

local function error_handler(e)
  if is_fatal(e) then return e end
  return {message = tostring(e), traceback = traceback(tostring(e), 2)}
end

-- The host resumes with this so it can tell a host call from the end.
local function resume(co, ...)
  local r = table_pack(coroutine_resume(co, ...))
  if not r[1] then
    local e = r[2]
    if is_budget(e) then return "budget", e.kind, e.message end
    return "fail", tostring(e), ""
  end
  if coroutine_status(co) == "dead" then
    return table_unpack(r, 2, r.n)
  end
  -- A host call: r[2] is HOST, then op and arguments.
  return "call", table_unpack(r, 3, r.n)
end

-- Returns a step function that resumes a coroutine that runs `chunk(env)` under the request's budgets and
-- finally yields "done" or "fail" with what the host needs.
local function start(chunk, env, st, instructions, memory, deadline, slice_end)
  local count = 0
  local mem_start = collectgarbage("count")
  local mem_limit = memory / 1024
  local preemptible = slice_end ~= nil
  local failed = nil
  local function hook()
    if failed then error(failed, 0) end
    count = count + HOOK_STEP
    if count > instructions then
      failed = budget_error("instructions", string_format("page ran past its instruction budget of %d", instructions))
      error(failed, 0)
    end
    if collectgarbage("count") - mem_start > mem_limit then
      collectgarbage("step", 0)
      if collectgarbage("count") - mem_start > mem_limit then
        failed = budget_error("memory", string_format("page used more than its memory budget of %d bytes", memory))
        error(failed, 0)
      end
    end
    local now = host_now()
    if now > deadline then
      failed = budget_error("time", "page ran past its time budget")
      error(failed, 0)
    end
    if preemptible and now > slice_end then
      error(budget_error("preempt", "slice used up"), 0)
    end
  end
  local co = coroutine_create(function()
    local ok, err = xpcall(chunk, error_handler, env)
    if ok then
      return "done", take_output(st)
    end
    if is_budget(err) then
      return "budget", err.kind, err.message
    end
    if err == "not enough memory" then
      return "budget", "memory", "page ran out of memory"
    end
    return "fail", err.message, err.traceback
  end)
  sethook(co, hook, "", HOOK_STEP)
  states[co] = st
  local function set_preemptible(flag) preemptible = flag end
  local function step(...) return resume(co, ...) end
  return step, set_preemptible
end

local function compile(source, name)
  if setfenv == nil then
    -- `_ENV` becomes the chunk's first argument, so one compiled chunk serves
    -- every request, each with its own environment, even when they interleave.
    return load("local _ENV = ...; " .. source, "@" .. name, "t")
  end
  -- LuaJIT (Lua 5.1 rules) has no _ENV: check the source once, then give
  -- every request a fresh closure with its own environment.
  local f, err = load(source, "@" .. name, "t")
  if not f then return nil, err end
  return function(env, ...)
    local g = load(source, "@" .. name, "t")
    setfenv(g, env)
    return g(...)
  end
end

-- A table whose string keys are looked up lower-cased (header names).
local ci_meta = {__index = function(t, k)
  if type(k) == "string" then return rawget(t, string_lower(k)) end
end}
local function make_ci(t) return setmetatable(t, ci_meta) end

return {new_env = new_env, start = start, compile = compile, make_ci = make_ci}
