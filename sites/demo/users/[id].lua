-- /users/42: a route parameter from the file name.
local layout = require("layout")
local id = request.params.id
if not id:match("^%d+$") then
  response.status = 404
  response.write(layout.page("No such user", "<p>User ids are numbers.</p>"))
  return
end
response.write(layout.page("User " .. id, "<p>Profile of user <b>" .. id .. "</b>.</p>"))
