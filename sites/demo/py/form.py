# /py/form: GET shows a form, POST reads it back.
from html import escape


def handle(request, response):
    if request.method == "POST":
        f = request.form()
        response.write(f"<!doctype html><title>Thanks</title><p>Thanks, {escape(f.get('name', ''))}. "
                       f"You like {escape(f.get('colour', ''))}.</p><p><a href=/py/form>again</a></p>\n")
        return
    response.write("""<!doctype html><title>A form</title>
<form method="post" action="/py/form">
  <label>Name <input name="name"></label>
  <label>Favourite colour <input name="colour"></label>
  <button>Send</button>
</form>
""")
