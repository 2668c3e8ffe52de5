-- Class 9: a status and headers the page takes from the query: 1xx statuses, header names that are
-- not tokens, values with control characters.
local q = request.query
if q.status then response.status = tonumber(q.status) end
if q.name then
  response.headers[q.name] = q.value or "x"
elseif q.value then
  response.headers["x-hostile"] = q.value
end
print("framed")
