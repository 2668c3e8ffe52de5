"""WebSockets from pages (RFC 6455 over HTTP/1.1, RFC 8441 over HTTP/2) with real clients: the `websockets`
library, raw frames on a socket, and an h2 + wsproto client. One server for the module."""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from wsproto.events import BytesMessage, CloseConnection, Ping, Pong, TextMessage

from tests._server import RunningServer, run_dynlan
from tests.e2e._wsclient import H2WebSocket, RawWebSocket, frame, handshake, read_close

pytestmark = pytest.mark.e2e

MIB = 1024 * 1024
CONFIG = """
[limits]
instructions = 3000000
[websocket]
max_message = 1572864
idle_timeout = 3
lifetime = 5
"""

PAGES = {
    "echo.lua": """
local ws = websocket.accept{protocol = {"chat", "echo"}}
if ws == nil then return end
while true do
  local msg, kind = ws:receive()
  if msg == nil then break end
  if msg == "close me" then ws:close(4001, "asked to") break end
  if msg == "protocol" then msg = ws.protocol end
  ws:send(msg, kind)
end
""",
    # Each message costs about half the instruction budget: a budget per connection would end it at once.
    "work.lua": """
local ws = websocket.accept()
while true do
  local msg = ws:receive()
  if msg == nil then break end
  local n = 0
  for i = 1, 150000 do n = n + i end
  ws:send(tostring(n))
end
""",
    "fails.lua": """
local ws = websocket.accept()
local msg = ws:receive()
error("broken page")
""",
    "own426.lua": """
if websocket.accept() == nil then
  response.status = 200
  print("plain answer")
end
""",
    "plain.lua": 'print("plain answer")\n',
    # Says how its WebSocket ended, as the page sees it.
    "ends.lua": """
local ws = websocket.accept()
while true do
  local msg, kind = ws:receive()
  if msg == nil then break end
  ws:send(msg, kind)
end
local info = ws:info()
log.info("websocket " .. request.query.tag .. " ended " .. tostring(info.close_code) .. " " .. info.close_reason)
""",
    "busy.lua": """
local ws = websocket.accept()
while true do
  local msg = ws:receive()
  if msg == nil then break end
  ws:send(msg)
end
""",
}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ws-site")
    for name, text in PAGES.items():
        (root / name).write_text(text)
    return root


@pytest.fixture(scope="module")
def server(site: Path) -> Iterator[RunningServer]:
    with run_dynlan(site, config=CONFIG) as running:
        yield running


def ws_url(server: RunningServer, path: str) -> str:
    return f"ws://127.0.0.1:{server.port}{path}"


def run(coro: object) -> object:
    return asyncio.run(asyncio.wait_for(coro, 60))  # type: ignore[arg-type]


def test_echo_text_binary_and_one_mib(server: RunningServer) -> None:
    async def go() -> None:
        async with connect(ws_url(server, "/echo"), max_size=None) as ws:
            await ws.send("héllo")
            assert await ws.recv() == "héllo"
            await ws.send(b"\x00\xff" * 8)
            assert await ws.recv() == b"\x00\xff" * 8
            big = bytes(range(256)) * (MIB // 256)
            await ws.send(big)
            assert await ws.recv() == big
            # Fragmented by the client (RFC 6455 §5.4): one message to the page.
            await ws.send(["frag", "men", "ted"])
            assert await ws.recv() == "fragmented"
            await ws.send([b"\x01" * 70000, b"\x02" * 70000])
            assert await ws.recv() == b"\x01" * 70000 + b"\x02" * 70000
            # Pings are the host's to answer.
            pong = await ws.ping()
            await asyncio.wait_for(pong, 10)
    run(go())


def _access_line(server: RunningServer, needle: str) -> str:
    """The access log's line with `needle` (the log is written in batches: it comes within a moment)."""
    deadline = time.monotonic() + 20
    while True:
        lines = [line for line in server.log().splitlines() if needle in line]
        if lines:
            return lines[-1]
        assert time.monotonic() < deadline, server.log()[-3000:]
        time.sleep(0.05)


def test_access_log_counts_what_a_websocket_sent(server: RunningServer) -> None:
    """A WebSocket's line says 101 and the bytes that went to the client over it, as a response's says its body's."""
    big = b"\x07" * MIB

    async def go() -> None:
        async with connect(ws_url(server, "/echo?counted=h1"), max_size=None) as ws:
            await ws.send(big)
            assert await ws.recv() == big
    run(go())
    fields = _access_line(server, "/echo?counted=h1").split()
    assert fields[fields.index('HTTP/1.1"') + 1] == "101"
    assert MIB < int(fields[fields.index('HTTP/1.1"') + 2]) < MIB + 100  # the frame, its header, the close
    client = H2WebSocket(server.port, "/echo?counted=h2")
    try:
        client.send(BytesMessage(big))
        assert client.message() == big
    finally:
        client.close()
    line = _access_line(server, "/echo?counted=h2")
    assert MIB < int(line.split('"')[2].split()[1]) < MIB + 100, line


def test_subprotocol_is_chosen_from_the_offer(server: RunningServer) -> None:
    async def go() -> None:
        async with connect(ws_url(server, "/echo"), subprotocols=["echo", "x"]) as ws:  # type: ignore[list-item]
            assert ws.subprotocol == "echo"
            await ws.send("protocol")
            assert await ws.recv() == "echo"
    run(go())


def test_close_codes_both_ways(server: RunningServer) -> None:
    async def go() -> None:
        async with connect(ws_url(server, "/echo")) as ws:
            await ws.send("close me")
            with pytest.raises(ConnectionClosed):
                await ws.recv()
            assert ws.close_code == 4001 and ws.close_reason == "asked to"
        ws = await connect(ws_url(server, "/echo"))
        await ws.close(4000, "client leaves")
        assert ws.close_code == 4000  # the host answers the peer's Close with its code (RFC 6455 §5.5.1)
    run(go())


def test_oversize_message_closes_1009_and_server_stays_up(server: RunningServer) -> None:
    async def go() -> None:
        async with connect(ws_url(server, "/echo"), max_size=None) as ws:
            with pytest.raises(ConnectionClosed):
                # The server refuses the message from its frame header: its 1009 may come while the client is
                # still sending the payload (then the send is what sees the close), or after.
                await ws.send(b"x" * (2 * MIB))
                await ws.recv()
            assert ws.close_code == 1009
        async with connect(ws_url(server, "/echo")) as ws:
            await ws.send("still here")
            assert await ws.recv() == "still here"
    run(go())


@pytest.mark.parametrize(("bad", "code"), [
    (frame(0x1, b"unmasked", mask=False), 1002),   # RFC 6455 §5.1: a client masks every frame
    (frame(0x3, b"reserved opcode"), 1002),
    (frame(0x1, b"rsv", rsv=4), 1002),            # no extension was negotiated
    (frame(0x1, b"\xff\xfe not utf-8"), 1007),
    (frame(0x9, b"p" * 200), 1002),               # control frames carry at most 125 bytes
    (frame(0x0, b"continuation of nothing"), 1002),
], ids=["unmasked", "reserved-opcode", "rsv", "not-utf8", "long-control", "lone-continuation"])
def test_bad_frames_close_the_connection_and_server_stays_up(server: RunningServer, bad: bytes, code: int) -> None:
    sock, head = handshake(server.port, "/echo")
    assert head.startswith(b"HTTP/1.1 101 ")
    sock.sendall(bad)
    assert read_close(sock) == code
    sock.close()
    assert httpx.get(server.url + "/echo").status_code == 426


def close_frame(code: int, reason: bytes = b"") -> bytes:
    return frame(0x8, struct.pack("!H", code) + reason)


@pytest.mark.parametrize(("last", "code", "reason"), [
    (close_frame(1000), 1000, ""),
    (frame(0x3, b"reserved opcode"), 1002, None),
    (frame(0x1, b"\xff not utf-8"), 1007, "text message is not UTF-8"),
    # A frame announcing a TiB is refused from its header (RFC 6455 §10.4): none of it is waited for.
    (struct.pack("!BBQ", 0x82, 0xFF, 1 << 40) + b"mask", 1009, "message over 1572864 bytes"),
    # Fragments each under `max_message`, not together.
    (frame(0x2, b"x" * MIB, fin=False) + frame(0x0, b"x" * MIB), 1009, "message over 1572864 bytes"),
], ids=["close", "bad-opcode", "not-utf8", "huge-frame", "huge-fragments"])
def test_messages_ahead_of_the_end_are_answered_first(
        server: RunningServer, last: bytes, code: int, reason: str | None) -> None:
    """Messages that came in one write with the peer's Close (or a frame that ends the connection) reach the page,
    and its answers go out, before the end is answered: the Close is the last frame the server sends."""
    tag = f"ahead{code}-{len(last)}"
    ws = RawWebSocket(server.port, f"/ends?tag={tag}")
    try:
        ws.send(frame(0x1, b"one") + frame(0x2, b"two") + last)
        got = ws.until_closed()
    finally:
        ws.close()
    assert got[:2] == [("text", "one"), ("binary", b"two")] and len(got) == 3, got
    kind, (sent_code, sent_reason) = got[2]  # type: ignore[misc]
    assert kind == "close" and sent_code == code, got
    if reason is not None:
        assert sent_reason == reason
    # The page's own view: the same code and reason.
    assert _access_line(server, f"websocket {tag} ended").endswith(f"ended {code} {sent_reason}")
    assert httpx.get(server.url + "/echo").status_code == 426


def test_a_ping_between_fragments_is_answered_and_the_message_arrives_whole(server: RunningServer) -> None:
    # RFC 6455 §5.4: control frames may come between the fragments of a message; §5.5.2: a Ping gets its Pong at
    # once, not when the message is whole. The fragments split a character's UTF-8 bytes.
    ws = RawWebSocket(server.port, "/echo")
    try:
        ws.send(frame(0x1, b"h\xc3", fin=False) + frame(0x9, b"p1"))
        assert ws.receive() == Pong(b"p1")
        ws.send(frame(0x0, b"\xa9l", fin=False) + frame(0x9, b"p2") + frame(0x0, b"lo"))
        assert ws.receive() == Pong(b"p2")
        assert ws.receive() == TextMessage("h\u00e9llo")
        ws.send(close_frame(1000))
        assert ws.until_closed() == [("close", (1000, ""))]
    finally:
        ws.close()


def test_text_that_is_not_utf8_closes_1007_at_its_first_bad_fragment(server: RunningServer) -> None:
    """RFC 6455 §8.1: 1007, as soon as a fragment cannot be UTF-8 (the rest of the message is never sent here);
    the server goes on serving."""
    ws = RawWebSocket(server.port, "/ends?tag=utf8")
    try:
        ws.send(frame(0x1, b"fine ", fin=False) + frame(0x0, b"\xc3\x28", fin=False))
        assert ws.until_closed() == [("close", (1007, "text message is not UTF-8"))]
    finally:
        ws.close()
    assert _access_line(server, "websocket utf8 ended").endswith("ended 1007 text message is not UTF-8")

    async def go() -> None:
        async with connect(ws_url(server, "/echo")) as ws:
            await ws.send("still here")
            assert await ws.recv() == "still here"
    run(go())


def test_a_close_between_fragments_is_answered_with_its_code(server: RunningServer) -> None:
    # RFC 6455 §5.4, §5.5.1: a Close may come between fragments; it ends the connection with its code, and the
    # unfinished message never reaches the page.
    ws = RawWebSocket(server.port, "/ends?tag=midclose")
    try:
        ws.send(frame(0x1, b"never ", fin=False) + close_frame(4003, b"bye"))
        assert ws.until_closed() == [("close", (4003, "bye"))]
    finally:
        ws.close()
    assert _access_line(server, "websocket midclose ended").endswith("ended 4003 bye")


def test_a_peer_gone_without_a_close_is_1006(server: RunningServer) -> None:
    ws = RawWebSocket(server.port, "/ends?tag=gone")
    try:
        ws.send(frame(0x1, b"hi"))
        assert ws.receive() == TextMessage("hi")
    finally:
        ws.close()
    assert _access_line(server, "websocket gone ended").endswith("ended 1006 ")


def test_messages_sent_without_waiting_are_all_answered_in_order(server: RunningServer) -> None:
    """A peer that does not wait for answers: 40 messages in one write, then 40 in another while the page is busy
    with the first. The page takes what is already read at once and waits for the rest; every answer comes, in
    order, and a ping-pong exchange after the burst still works."""
    ws = RawWebSocket(server.port, "/echo")
    try:
        ws.send(b"".join(frame(0x1, f"a{i}".encode()) for i in range(40)))
        ws.send(b"".join(frame(0x1, f"b{i}".encode()) for i in range(40)))
        got = []
        while len(got) < 80:
            event = ws.receive()
            assert isinstance(event, TextMessage), (event, got)
            got.append(event.data)
        assert got == [f"a{i}" for i in range(40)] + [f"b{i}" for i in range(40)]
        for i in range(5):
            ws.send(frame(0x1, f"c{i}".encode()))
            event = ws.receive()
            assert isinstance(event, TextMessage) and event.data == f"c{i}", event
    finally:
        ws.close()


def test_frames_sent_with_the_handshake_are_not_lost(server: RunningServer) -> None:
    # RFC 6455 §4.1: a client may send frames right after its handshake, in the same packet.
    sock, head = handshake(server.port, "/echo", extra=frame(0x1, b"early") + frame(0x8, b"\x03\xe8"))
    assert head.startswith(b"HTTP/1.1 101 ")
    rest = head.partition(b"\r\n\r\n")[2]
    while b"early" not in rest:
        more = sock.recv(65536)
        assert more, rest
        rest += more
    assert read_close(sock) in (1000, None) or b"\x88" in rest
    sock.close()


def test_handshake_errors_are_precise(server: RunningServer) -> None:
    with httpx.Client(base_url=server.url) as c:
        plain = c.get("/echo")
        assert plain.status_code == 426 and plain.headers["upgrade"] == "websocket"
        assert plain.headers["sec-websocket-version"] == "13"
        ws = {"upgrade": "websocket", "connection": "Upgrade", "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ=="}
        old = c.get("/echo", headers={**ws, "sec-websocket-version": "8"})
        assert old.status_code == 426 and old.headers["sec-websocket-version"] == "13"
        bad_key = c.get("/echo", headers={**ws, "sec-websocket-version": "13", "sec-websocket-key": "short"})
        assert bad_key.status_code == 400
        no_connection = c.get("/echo", headers={"upgrade": "websocket", "sec-websocket-version": "13",
                                                "sec-websocket-key": ws["sec-websocket-key"]})
        assert no_connection.status_code == 400
        # A page that answers for itself when there is no WebSocket.
        own = c.get("/own426")
        assert own.status_code == 200 and own.text == "plain answer\n"
        # Nothing of the handshake is kept by the response cache or the connection: a plain GET follows.
        assert c.get("/own426").text == "plain answer\n"


def test_budget_is_per_message_and_failures_close_1011(server: RunningServer) -> None:
    async def go() -> None:
        async with connect(ws_url(server, "/work")) as ws:
            for _ in range(6):  # three times the instruction budget in all
                await ws.send("go")
                assert await ws.recv() == str(sum(range(150001)))
        async with connect(ws_url(server, "/fails")) as ws:
            await ws.send("x")
            with pytest.raises(ConnectionClosed):
                await ws.recv()
            assert ws.close_code == 1011
    run(go())


def test_idle_timeout_and_lifetime(server: RunningServer) -> None:
    async def go() -> None:
        async with connect(ws_url(server, "/busy"), ping_interval=None) as ws:
            started = time.monotonic()
            with pytest.raises(ConnectionClosed):
                await ws.recv()
            assert ws.close_code == 1001 and ws.close_reason == "idle timeout"
            assert 2.5 < time.monotonic() - started < 15
        # A connection kept busy still ends with its lifetime (5 s): the page's time budget, 1011.
        async with connect(ws_url(server, "/busy"), ping_interval=None) as ws:
            started = time.monotonic()
            with pytest.raises(ConnectionClosed):
                while True:
                    await ws.send("tick")
                    await ws.recv()
                    await asyncio.sleep(0.2)
            assert ws.close_code == 1011
            assert 4.5 < time.monotonic() - started < 20
    run(go())


def test_http2_extended_connect(server: RunningServer) -> None:
    client = H2WebSocket(server.port, "/echo", protocols="chat")
    try:
        assert client.status == 200 and client.headers.get("sec-websocket-protocol") == "chat"
        client.send(TextMessage("over h2"))
        assert client.message() == "over h2"
        big = bytes(range(256)) * (MIB // 256)
        client.send(BytesMessage(big))
        assert client.message() == big
        client.send(Ping(b"p"))
        assert isinstance(client.receive(), Pong)
        client.send(TextMessage("close me"))
        event = client.receive()
        assert isinstance(event, CloseConnection) and event.code == 4001
    finally:
        client.close()
    # The connection's other streams are unaffected: a plain request on a fresh one.
    out = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    out.close()


def test_websocket_without_handshake_over_h2_is_426(server: RunningServer) -> None:
    with httpx.Client(http1=False, http2=True) as c:
        r = c.get(server.url + "/echo")
        assert r.http_version == "HTTP/2" and r.status_code == 426


def test_refused_handshake_keeps_the_connection_usable(server: RunningServer) -> None:
    # A WebSocket request to a page that does not take one is answered as HTTP; bytes after it are the next request.
    sock, head = handshake(server.port, "/plain", extra=b"GET /plain HTTP/1.1\r\nhost: x\r\n\r\n")
    data = head
    while data.count(b"plain answer") < 2:
        more = sock.recv(65536)
        if not more:
            break
        data += more
    sock.close()
    assert data.startswith(b"HTTP/1.1 200 ") and data.count(b"plain answer") == 2


def test_invalid_status_for_a_missing_page(server: RunningServer) -> None:
    async def go() -> None:
        with pytest.raises(InvalidStatus):
            await connect(ws_url(server, "/nothing-here"))
    run(go())


def test_server_stop_closes_open_websockets_with_1001(site: Path) -> None:
    async def go(server: RunningServer) -> None:
        async with connect(ws_url(server, "/busy"), ping_interval=None) as ws:
            await ws.send("hi")
            assert await ws.recv() == "hi"
            # SIGTERM: the grace period (1 s here) passes, then the page is cut and the peer told so.
            server.proc.terminate()
            with pytest.raises(ConnectionClosed):
                await ws.recv()
            assert ws.close_code == 1001 and ws.close_reason == "server going away"
    with run_dynlan(site, config="[server]\ngrace_period = 1.0\n") as server:
        run(go(server))
