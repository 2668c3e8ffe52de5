"""The service pages call in tests/e2e/test_page_http.py: a small ASGI app served by Hypercorn (trio worker).

    /echo            JSON: method, raw path, query, request fields, the body as text, the client's address
    /bytes           the 256 byte values, as application/octet-stream
    /slow?s=S        answers after S seconds
    /big?n=N         N bytes
    /big-chunked?n=N N bytes, chunked
    /redirect?to=U   302 to U
    /cookie          sets two cookies
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

import trio

from tests.e2e._asgi import lifespan


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
        return
    path = scope["path"]
    query = {k: v[0] for k, v in parse_qs(scope["query_string"].decode()).items()}
    body = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    if path == "/bytes":
        await _answer(send, 200, bytes(range(256)), b"application/octet-stream")
    elif path == "/slow":
        await trio.sleep(float(query["s"]))
        await _answer(send, 200, b"slow done")
    elif path == "/big":
        await _answer(send, 200, b"x" * int(query["n"]))
    elif path == "/big-chunked":
        # No Content-Length: only counting the body as it comes finds it too large.
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        for _ in range(int(query["n"]) // 1000):
            await send({"type": "http.response.body", "body": b"x" * 1000, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    elif path == "/redirect":
        await _answer(send, 302, b"", extra=[(b"location", query["to"].encode())])
    elif path == "/cookie":
        await _answer(send, 200, b"", extra=[(b"set-cookie", b"a=1; Path=/"), (b"set-cookie", b"b=2")])
    else:
        info = {
            "method": scope["method"],
            "path": scope["raw_path"].decode("latin-1"),
            "query": scope["query_string"].decode("latin-1"),
            "headers": {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]},
            "body": body.decode("utf-8", "replace"),
            "client": list(scope["client"]),
        }
        await _answer(send, 200, json.dumps(info).encode(), b"application/json", [(b"x-upstream", b"echo")])


async def _answer(send: Any, status: int, body: bytes, content_type: bytes = b"text/plain",
                  extra: list[tuple[bytes, bytes]] | None = None) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode()), *(extra or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
