Response.status = 201
Response.header("x-conformance", "yes")
Response.setCookie("flavour", "oat", {"path": "/", "httponly": true})
Response.write("created")
