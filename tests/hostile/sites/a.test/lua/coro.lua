-- Class 10: a page's own coroutines work, host calls included.
local co = coroutine.create(function(a)
  local b = coroutine.yield(a + 1)
  return b * 2
end)
local ok1, v1 = coroutine.resume(co, 1)
local ok2, v2 = coroutine.resume(co, 10)
local gen = coroutine.wrap(function()
  for i = 1, 3 do coroutine.yield(i) end
end)
print(ok1, v1, ok2, v2, coroutine.status(co), gen(), gen(), gen())
local host = coroutine.wrap(function()
  cache.set("coroutine", "ok")
  return request.host .. " " .. cache.get("coroutine")
end)
print(host())
