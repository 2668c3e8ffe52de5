local body = request.body()
response.headers["content-type"] = "text/plain; charset=utf-8"
print("method=" .. request.method)
print("path=" .. request.path)
print("name=" .. tostring(request.query.name))
print("header=" .. tostring(request.headers["X-Test"]))
print("body=" .. body)
print("version=" .. request.http_version)
