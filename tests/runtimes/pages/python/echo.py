def handle(request, response):
    body = request.body().decode()
    response.headers["content-type"] = "text/plain; charset=utf-8"
    response.write(f"method={request.method}\n")
    response.write(f"path={request.path}\n")
    response.write(f"name={request.query.get('name')}\n")
    response.write(f"header={request.headers.get('X-Test')}\n")
    response.write(f"body={body}\n")
    response.write(f"version={request.http_version}\n")
