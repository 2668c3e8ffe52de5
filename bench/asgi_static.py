"""A minimal ASGI app serving files from BENCH_SITE, for Hypercorn in `make bench`."""

from __future__ import annotations

import mimetypes
import os
from typing import Any

ROOT = os.path.realpath(os.environ.get("BENCH_SITE", "."))


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    path = os.path.realpath(os.path.join(ROOT, scope["path"].lstrip("/")))
    if not path.startswith(ROOT + os.sep) or not os.path.isfile(path):
        await send({"type": "http.response.start", "status": 404, "headers": [(b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})
        return
    with open(path, "rb") as f:
        body = f.read()
    ctype = (mimetypes.guess_type(path)[0] or "application/octet-stream").encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", ctype), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
