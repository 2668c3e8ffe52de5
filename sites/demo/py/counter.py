# /py/counter: the same host cache and files the Lua pages use.
from html import escape

import trio


async def handle(request, response):
    visits = cache.incr("demo:visits", 1)
    motd = cache.get("demo:motd")
    if motd is None:
        motd = fs.read("data/motd.txt")
        cache.set("demo:motd", motd, 30)
    await trio.sleep(0)  # an async page may await host calls and trio alike
    log.info(f"python counter page, visit {visits}")
    response.write(f"<!doctype html><title>Cache and files</title><p>Visited {visits} times (shared with /counter).</p>"
                   f"<p>Message of the day: {escape(motd)}</p>\n")
