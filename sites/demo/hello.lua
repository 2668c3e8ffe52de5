-- /hello: the smallest page. Try /hello?name=you
local name = request.query.name or "world"
response.headers["content-type"] = "text/plain; charset=utf-8"
print("Hello, " .. name .. "! (Lua)")
