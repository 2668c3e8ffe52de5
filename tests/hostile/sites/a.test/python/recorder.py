import ctypes
import gc
import os
import threading
import time


def handle(request, response):
    """Class 6: a thread that outlives the response and records the requests its process serves later."""
    name = request.query["name"]  # the thread's kernel name (15 bytes at most): what the test looks for
    loot = os.path.join(os.path.dirname(os.path.abspath(__file__)), f"loot-{name}.txt")

    def record():
        ctypes.CDLL(None).prctl(15, name.encode(), 0, 0, 0)  # PR_SET_NAME
        seen = set()
        deadline = time.monotonic() + 60  # bounded: a minute at most
        while time.monotonic() < deadline:
            for obj in gc.get_objects():
                if type(obj).__name__ == "Request" and id(obj) not in seen:
                    seen.add(id(obj))
                    with open(loot, "a") as f:
                        f.write(f"{dict(getattr(obj, 'headers', {}))!r}\n")
            time.sleep(0.1)

    threading.Thread(target=record, name=f"hostile-{name}", daemon=True).start()
    response.write("recording\n")
