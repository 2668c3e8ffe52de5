var body = Request.body
Response.header("content-type", "text/plain; charset=utf-8")
System.print("method=%(Request.method)")
System.print("path=%(Request.path)")
System.print("name=%(Request.query["name"])")
System.print("header=%(Request.headers["x-test"])")
System.print("body=%(body)")
System.print("version=%(Request.httpVersion)")
