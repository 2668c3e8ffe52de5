# /py/hello: a Python page. Try /py/hello?name=you
def handle(request, response):
    name = request.query.get("name", "world")
    response.headers["content-type"] = "text/plain; charset=utf-8"
    response.write(f"Hello, {name}! (Python)\n")
