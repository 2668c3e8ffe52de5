-- /lua/<name>: a Lua page. Try /lua/world?greeting=Hello
local starter = require("starter")

local name = request.params.name                     -- from the file name, [name].lua
local greeting = request.query.greeting or "Hello"   -- from the query string
local visits = cache.incr("starter:lua", 1)          -- kept by the server between requests

local said = ""
if request.method == "POST" then
  local form = request.form()
  said = "<p class=card>You said: <b>" .. starter.escape(form.message or "") .. "</b></p>"
end

response.write(starter.page("Lua", said ..
  "<p>" .. starter.escape(greeting) .. ", " .. starter.escape(name) .. "!</p>" ..
  "<p>This page was visited " .. visits .. " times.</p>" ..
  '<form method="post"><input name="message" placeholder="Say something"> <button>Send</button></form>'))
