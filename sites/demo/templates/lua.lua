-- /templates/lua: the same template every language renders (sites/demo/_tpl/languages.html).
local rows = {}
for _, pair in ipairs({{"Lua", ".lua"}, {"Wren", ".wren"}, {"Python", ".py"}, {"PHP", ".php"}, {"Jinja", ".jinja"}}) do
  rows[#rows + 1] = {name = pair[1], suffix = pair[2]}
end
response.render("_tpl/languages.html", {language = "Lua", name = request.query.name or "visitor", rows = rows})
