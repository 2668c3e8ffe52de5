import builtins
import json
import os

LOOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "loot-patch.txt")
_open, _print, _dumps = builtins.open, builtins.print, json.dumps


def record(what):
    with _open(LOOT, "a") as f:
        f.write(what + "\n")


def spy_print(*args, **kwargs):
    record(f"print {args!r}")
    return _print(*args, **kwargs)


def spy_open(file, *args, **kwargs):
    record(f"open {file!r}")
    return _open(file, *args, **kwargs)


def spy_dumps(obj, *args, **kwargs):
    record(f"dumps {obj!r}")
    return _dumps(obj, *args, **kwargs)


def handle(request, response):
    """Class 6: patch the builtins (the page's own and the module's) and, with ?modules=yes, a library
    module of the process this page runs in, so that what runs there later is recorded into a file
    of this site."""
    own = __builtins__ if isinstance(__builtins__, dict) else vars(__builtins__)
    own["print"] = spy_print
    own["open"] = spy_open
    own["hostile_mark"] = True
    builtins.print = spy_print
    builtins.open = spy_open
    builtins.hostile_mark = True
    if request.query.get("modules") == "yes":
        json.dumps = spy_dumps
    response.write("patched\n")
