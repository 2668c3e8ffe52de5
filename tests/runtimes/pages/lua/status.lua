response.status = 201
response.headers["x-conformance"] = "yes"
response.set_cookie("flavour", "oat", {path = "/", httponly = true})
response.write("created")
