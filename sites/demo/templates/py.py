"""/templates/py: the same template every language renders (sites/demo/_tpl/languages.html)."""

LANGUAGES = [("Lua", ".lua"), ("Wren", ".wren"), ("Python", ".py"), ("PHP", ".php"), ("Jinja", ".jinja")]


def handle(request, response):
    rows = [{"name": name, "suffix": suffix} for name, suffix in LANGUAGES]
    response.write(template.render("_tpl/languages.html", language="Python",
                                   name=request.query.get("name", "visitor"), rows=rows))
