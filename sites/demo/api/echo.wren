// @summary The request's method, path and query, as JSON
// @methods GET POST
// @param header x-request-note string Echoed back as "note"
// @response 200 application/json {"type": "object", "properties": {"method": {"type": "string"}, "path": {"type": "string"}, "query": {"type": "object"}}}
Response.json({
  "method": Request.method,
  "path": Request.path,
  "query": Request.query,
  "note": Request.headers["x-request-note"]
})
