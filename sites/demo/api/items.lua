-- @summary The items kept in the cache
-- @tags items
-- @methods GET POST
-- @param query prefix string Only the items whose name starts with this
-- @body application/json {"type": "object", "required": ["name"], "properties": {"name": {"type": "string", "minLength": 1}}}
-- @response 200 application/json {"type": "array", "items": {"type": "string"}}
-- @response 201 application/json {"type": "object", "properties": {"name": {"type": "string"}}}
-- @response 400 The body is not an object with a name
local items = cache.get("api:items") or {}
if request.method == "POST" then
  local ok, body = pcall(request.json)
  if not ok or type(body) ~= "table" or type(body.name) ~= "string" or body.name == "" then
    response.json({error = "expected {\"name\": string}"}, 400)
    return
  end
  items[#items + 1] = body.name
  cache.set("api:items", items, 3600)
  response.json({name = body.name}, 201)
  return
end
local prefix = request.query.prefix or ""
local out = {}
for _, name in ipairs(items) do
  if name:sub(1, #prefix) == prefix then out[#out + 1] = name end
end
response.json(out)
