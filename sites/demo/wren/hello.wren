Response.header("content-type", "text/plain; charset=utf-8")
var name = Request.query["name"] || "world"
System.print("Hello, %(name)! (Wren, request %(Cache.incr("wren-hello")))")
