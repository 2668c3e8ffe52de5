"""The WebSocket page API in every language (Lua, Wren, Python, PHP), over HTTP/1.1 and HTTP/2 (RFC 8441):
echo of text and binary messages, the close handshake, and 426 for a request that is no handshake."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from wsproto.events import BytesMessage, CloseConnection, TextMessage

from tests._server import RunningServer, run_dynlan
from tests.e2e._wsclient import H2WebSocket, frame, handshake

pytestmark = pytest.mark.e2e

PAGES = {
    "lua.lua": """
local ws = websocket.accept()
if ws == nil then return end
while true do
  local msg, kind = ws:receive()
  if msg == nil then break end
  if msg == "bye" then ws:close(4002, "bye from lua") break end
  ws:send(msg, kind)
end
""",
    "wren.wren": """
var ws = WebSocket.accept()
if (ws != null) {
  while (true) {
    var msg = ws.receive()
    if (msg == null) break
    if (msg == "bye") {
      ws.close(4002, "bye from wren")
      break
    }
    ws.send(msg, ws.kind)
  }
}
""",
    "py.py": """
async def handle(request, response):
    ws = await websocket.accept()
    if ws is None:
        return
    while (msg := await ws.receive()) is not None:
        if msg == "bye":
            await ws.close(4002, "bye from python")
            break
        await ws.send(msg)
""",
    "php.php": """<?php
if (!dynlan_ws_accept()) { return; }
while (($msg = dynlan_ws_receive([], null, $info)) !== null) {
    if ($msg === 'bye') { dynlan_ws_close(4002, 'bye from php'); break; }
    dynlan_ws_send($msg, $info['kind']);
}
""",
}
LANGUAGES = {"lua": "lua", "wren": "wren", "py": "python", "php": "php"}
BINARY = bytes(range(256)) * 64


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    root: Path = tmp_path_factory.mktemp("ws-languages")
    for name, text in PAGES.items():
        (root / name).write_text(text)
    with run_dynlan(root) as running:
        yield running


@pytest.mark.parametrize("page", LANGUAGES)
def test_echo_and_close_over_http1(server: RunningServer, page: str) -> None:
    async def go() -> None:
        async with connect(f"ws://127.0.0.1:{server.port}/{page}") as ws:
            for text in ("héllo", "x" * 70000):
                await ws.send(text)
                assert await ws.recv() == text
            if page != "wren":  # Wren strings are text: binary messages reach a Wren page as text
                await ws.send(BINARY)
                assert await ws.recv() == BINARY
            await ws.send("bye")
            with pytest.raises(ConnectionClosed):
                await ws.recv()
            assert ws.close_code == 4002 and ws.close_reason == f"bye from {LANGUAGES[page]}"
    asyncio.run(asyncio.wait_for(go(), 60))


@pytest.mark.parametrize("page", LANGUAGES)
def test_messages_sent_without_waiting_come_back_in_order(server: RunningServer, page: str) -> None:
    """Many messages in one write (the page takes those already read without waiting), then a ping-pong exchange
    (each message waited for): every answer, in order, in every language."""
    sock, head = handshake(server.port, f"/{page}", extra=b"".join(frame(0x1, f"m{i}".encode()) for i in range(30)))
    try:
        assert head.startswith(b"HTTP/1.1 101 ")
        got = _texts(sock, head.partition(b"\r\n\r\n")[2], 30)
        assert got == [f"m{i}" for i in range(30)]
        for i in range(3):
            sock.sendall(frame(0x1, f"p{i}".encode()))
            assert _texts(sock, b"", 1) == [f"p{i}"]
    finally:
        sock.close()


def _texts(sock: socket.socket, data: bytes, count: int) -> list[str]:
    """`count` unmasked text frames from the server (payloads under 126 bytes), after `data` already read."""
    texts: list[str] = []
    while len(texts) < count:
        while len(data) < 2 or len(data) < 2 + data[1]:
            more = sock.recv(65536)
            assert more, texts
            data += more
        assert data[0] == 0x81 and data[1] < 126, data[:2]
        texts.append(data[2 : 2 + data[1]].decode())
        data = data[2 + data[1]:]
    assert not data
    return texts


@pytest.mark.parametrize("page", LANGUAGES)
def test_echo_and_close_over_http2(server: RunningServer, page: str) -> None:
    client = H2WebSocket(server.port, f"/{page}")
    try:
        assert client.status == 200
        client.send(TextMessage("över h2"))
        assert client.message() == "över h2"
        if page != "wren":
            client.send(BytesMessage(BINARY))
            assert client.message() == BINARY
        client.send(TextMessage("bye"))
        event = client.receive()
        assert isinstance(event, CloseConnection) and event.code == 4002
    finally:
        client.close()


@pytest.mark.parametrize("page", LANGUAGES)
def test_plain_request_is_426(server: RunningServer, page: str) -> None:
    r = httpx.get(f"{server.url}/{page}")
    assert r.status_code == 426 and r.headers["upgrade"] == "websocket", r.text


WALL = 0.5
"""The short-lived site's wall-time budget: a WebSocket's lifetime replaces it from the page's accept on."""


@pytest.fixture(scope="module")
def short_wall(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    root: Path = tmp_path_factory.mktemp("ws-short-wall")
    for name, text in PAGES.items():
        (root / name).write_text(text)
    with run_dynlan(root, config=f"[limits]\nwall_time = {WALL}\n\n[websocket]\nlifetime = 60\n") as running:
        yield running


@pytest.mark.parametrize("page", LANGUAGES)
def test_an_accepted_websocket_outlives_the_page_s_wall_time(short_wall: RunningServer, page: str) -> None:
    # Most pages accept before they first wait: the budget that bounds their waits is the lifetime already.
    async def go() -> None:
        async with connect(f"ws://127.0.0.1:{short_wall.port}/{page}") as ws:
            await ws.send("first")
            assert await ws.recv() == "first"
            await asyncio.sleep(3 * WALL)  # the time under test: past the wall time, well within the lifetime
            await ws.send("later")
            assert await ws.recv() == "later"
            await ws.send("bye")
            with pytest.raises(ConnectionClosed):
                await ws.recv()
            assert ws.close_code == 4002, (ws.close_code, short_wall.log())
    asyncio.run(asyncio.wait_for(go(), 60))
