// /templates/wren: the same template every language renders (sites/demo/_tpl/languages.html).
var rows = [["Lua", ".lua"], ["Wren", ".wren"], ["Python", ".py"], ["PHP", ".php"], ["Jinja", ".jinja"]].map { |pair|
  return {"name": pair[0], "suffix": pair[1]}
}.toList
Response.render("_tpl/languages.html", {"language": "Wren", "name": Request.query["name"] || "visitor", "rows": rows})
