-- /form: GET shows a form, POST reads it back.
local layout = require("layout")
if request.method == "POST" then
  local f = request.form()
  local name = layout.escape(f.name or "")
  local colour = layout.escape(f.colour or "")
  response.write(layout.page("Thanks", "<p>Thanks, " .. name .. ". You like " .. colour .. ".</p><p><a href=\"/form\">again</a></p>"))
else
  response.write(layout.page("A form", [[
<form method="post" action="/form">
  <label>Name <input name="name"></label>
  <label>Favourite colour <input name="colour"></label>
  <button>Send</button>
</form>]]))
end
