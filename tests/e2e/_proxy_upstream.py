"""An upstream for the proxy tests: a small ASGI app served by Hypercorn (trio worker).

    /health        200 "ok"
    /big?n=N       N bytes, streamed in 64 KiB chunks (Content-Length set)
    /chunks?n=K    K chunks of "chunk i\\n", no Content-Length (chunked)
    /slow?s=S      answers after S seconds
    /cut           declares 100000 bytes, sends 1000, then fails (the connection is dropped)
    .../ws         a WebSocket (subprotocol "chat" when offered): first a JSON text of its name and the fields it
                   saw, then every text back as "NAME: text", every binary message back as it is; "bye" closes
                   it with 1000
    .../ws-refuse  a WebSocket handshake refused (Hypercorn answers 403)
    anything else  JSON: the upstream's name, the method, raw path and query, the fields and the body's size
                   (the body is read chunk by chunk and counted, never held)
"""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import parse_qs

import trio

from tests.e2e._asgi import lifespan

NAME = os.environ.get("UPSTREAM_NAME", "upstream")
CHUNK = b"x" * 65536


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
        return
    if scope["type"] == "websocket":
        await _websocket(scope, receive, send)
        return
    path = scope["path"]
    query = parse_qs(scope["query_string"].decode())
    if path == "/health":
        await _answer(send, 200, b"ok")
        return
    if path == "/big":
        n = int(query["n"][0])
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(n).encode()), (b"content-type", b"application/octet-stream")]})
        while n > 0:
            part = CHUNK[: min(n, len(CHUNK))]
            n -= len(part)
            await send({"type": "http.response.body", "body": part, "more_body": n > 0})
        return
    if path == "/chunks":
        k = int(query["n"][0])
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        for i in range(k):
            await send({"type": "http.response.body", "body": f"chunk {i}\n".encode(), "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return
    if path == "/cut":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"100000")]})
        await send({"type": "http.response.body", "body": b"c" * 1000, "more_body": True})
        raise RuntimeError("the upstream breaks off its response")
    if path == "/slow":
        await trio.sleep(float(query["s"][0]))
        await _answer(send, 200, b"slow done")
        return
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        size += len(message.get("body", b""))
        if not message.get("more_body"):
            break
    info = {
        "name": NAME,
        "method": scope["method"],
        "path": scope["raw_path"].decode("latin-1"),
        "query": scope["query_string"].decode("latin-1"),
        "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in scope["headers"]],
        "body_bytes": size,
    }
    await _answer(send, 200, json.dumps(info).encode(), b"application/json",
                  [(b"connection", b"x-hop"), (b"x-hop", b"1"), (b"keep-alive", b"timeout=5")])


async def _answer(send: Any, status: int, body: bytes, content_type: bytes = b"text/plain",
                  extra: list[tuple[bytes, bytes]] | None = None) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode()), *(extra or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _websocket(scope: dict[str, Any], receive: Any, send: Any) -> None:
    message = await receive()
    assert message["type"] == "websocket.connect"
    if not scope["path"].endswith("/ws"):
        await send({"type": "websocket.close", "code": 1008})
        return
    chosen = "chat" if "chat" in scope.get("subprotocols", []) else None
    await send({"type": "websocket.accept", "subprotocol": chosen})
    seen = {"name": NAME, "path": scope["raw_path"].decode("latin-1"),
            "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in scope["headers"]]}
    await send({"type": "websocket.send", "text": json.dumps(seen)})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("text") == "bye":
            await send({"type": "websocket.close", "code": 1000})
            return
        if message.get("text") is not None:
            await send({"type": "websocket.send", "text": f"{NAME}: {message['text']}"})
        else:
            await send({"type": "websocket.send", "bytes": message["bytes"]})
