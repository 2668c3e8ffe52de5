// /wren/form: GET shows a form, POST reads it back.
import "./_lib/layout" for Layout

if (Request.method == "POST") {
  var form = Request.form
  var name = Layout.escape(form["name"] || "")
  var colour = Layout.escape(form["colour"] || "")
  Response.write(Layout.page("Thanks",
    "<p>Thanks, %(name). You like %(colour).</p><p><a href=\"/wren/form\">again</a></p>"))
} else {
  Response.write(Layout.page("A form", """
<form method="post" action="/wren/form">
  <label>Name <input name="name"></label>
  <label>Favourite colour <input name="colour"></label>
  <button>Send</button>
</form>"""))
}
