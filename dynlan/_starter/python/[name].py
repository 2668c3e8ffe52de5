# /python/<name>: a Python page. Try /python/world?greeting=Hello
from html import escape

from _lib import starter


def handle(request, response):
    name = request.params["name"]                         # from the file name, [name].py
    greeting = request.query.get("greeting", "Hello")     # from the query string
    visits = cache.incr("starter:python", 1)              # kept by the server between requests
    said = ""
    if request.method == "POST":
        message = request.form().get("message", "")
        said = f"<p class=card>You said: <b>{escape(message)}</b></p>"
    response.write(starter.page("Python", said
                                + f"<p>{escape(greeting)}, {escape(name)}!</p>"
                                + f"<p>This page was visited {visits} times.</p>"
                                + '<form method="post"><input name="message" placeholder="Say something"> '
                                + "<button>Send</button></form>"))
