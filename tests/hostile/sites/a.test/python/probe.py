import builtins
import json
import os
import threading


def handle(request, response):
    """What this request's Python sees: its builtins, a library function, the threads of its process."""
    own = __builtins__ if isinstance(__builtins__, dict) else vars(__builtins__)
    facts = [
        f"print={type(own['print']).__name__}",
        f"open={type(own['open']).__name__}",
        f"module.print={type(builtins.print).__name__}",
        f"module.open={type(builtins.open).__name__}",
        f"mark={'hostile_mark' in own}",
        f"module.mark={hasattr(builtins, 'hostile_mark')}",
        f"json.dumps={json.dumps.__code__.co_filename.endswith(os.path.join('json', '__init__.py'))}",
        f"threads={','.join(sorted(t.name for t in threading.enumerate() if t.name.startswith('hostile')))}",
    ]
    response.write("\n".join(facts) + "\n")
