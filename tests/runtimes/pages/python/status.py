def handle(request, response):
    response.status = 201
    response.headers["x-conformance"] = "yes"
    response.set_cookie("flavour", "oat", path="/", httponly=True)
    response.write("created")
