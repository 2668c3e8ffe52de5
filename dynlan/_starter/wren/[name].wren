// /wren/<name>: a Wren page. Try /wren/world?greeting=Hello
import "starter" for Starter

var name = Request.params["name"]                  // from the file name, [name].wren
var greeting = Request.query["greeting"] || "Hello" // from the query string
var visits = Cache.incr("starter:wren", 1)         // kept by the server between requests

var said = ""
if (Request.method == "POST") {
  var message = Request.form["message"] || ""
  said = "<p class=card>You said: <b>%(Starter.escape(message))</b></p>"
}

Response.write(Starter.page("Wren", said +
  "<p>%(Starter.escape(greeting)), %(Starter.escape(name))!</p>" +
  "<p>This page was visited %(visits) times.</p>" +
  "<form method=\"post\"><input name=\"message\" placeholder=\"Say something\"> <button>Send</button></form>"))
