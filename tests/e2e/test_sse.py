"""Server-sent events from pages in every language, read with httpx over HTTP/1.1 and HTTP/2: the event-stream
framing (multi-line data, ids, retry), Last-Event-ID, heartbeat comments while the page waits, and nothing in the
way (no buffering, no compression, no response cache)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests._server import RunningServer, run_dynlan

pytestmark = pytest.mark.e2e

# Each page: one event at once (two lines of data, the client's Last-Event-ID in it), then waits on a channel
# (heartbeats go out meanwhile) and sends what comes as a second event.
PAGES = {
    "lua.lua": """
local sse = response.sse()
local go = channel.subscribe("go-" .. request.query.key)
sse:send{event = "first", id = "7", retry = 1500, data = "last=" .. sse.last_event_id .. "\\nsecond line"}
sse:send{event = "second", data = go:receive(30)}
""",
    "py.py": """
async def handle(request, response):
    sse = await response.sse()
    go = channel.subscribe("go-" + request.query["key"])
    await sse.send("last=" + sse.last_event_id + "\\nsecond line", event="first", id=7, retry=1500)
    await sse.send(await go.receive(30), event="second")
""",
    "php.php": """<?php
$last = dynlan_sse_start();
$go = dynlan_channel_subscribe('go-' . $_GET['key']);
dynlan_sse_send(['event' => 'first', 'id' => '7', 'retry' => 1500, 'data' => "last=$last\\nsecond line"]);
dynlan_sse_send(['event' => 'second', 'data' => dynlan_channel_receive($go, 30)]);
""",
    "wren.wren": """
var sse = Response.sse()
var go = Channel.subscribe("go-" + Request.query["key"])
sse.send({"event": "first", "id": "7", "retry": 1500, "data": "last=" + sse.lastEventId + "\\nsecond line"})
sse.send({"event": "second", "data": go.receive(30)})
""",
    "go.lua": 'channel.publish("go-" .. request.query.key, "go\\r\\nnow")\nprint("ok")\n',
}
LANGUAGES = ("lua", "py", "php", "wren")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    root: Path = tmp_path_factory.mktemp("sse")
    for name, text in PAGES.items():
        (root / name).write_text(text)
    with run_dynlan(root, config="[websocket]\nheartbeat = 0.2\n[compression]\nmin_size = 1\n") as running:
        yield running


@pytest.mark.parametrize("http2", [False, True], ids=["http1", "http2"])
@pytest.mark.parametrize("page", LANGUAGES)
def test_event_stream(server: RunningServer, page: str, http2: bool) -> None:
    key = f"{page}-{http2}"
    headers = {"accept": "text/event-stream", "last-event-id": "41", "accept-encoding": "gzip, br"}
    with httpx.Client(http1=not http2, http2=http2, timeout=30) as client, \
            client.stream("GET", f"{server.url}/{page}", params={"key": key}, headers=headers) as r:
        assert r.status_code == 200 and r.http_version == ("HTTP/2" if http2 else "HTTP/1.1")
        assert r.headers["content-type"] == "text/event-stream; charset=utf-8"
        assert r.headers["cache-control"] == "no-store" and "content-encoding" not in r.headers
        lines = r.iter_lines()
        first = [next(lines) for _ in range(5)]
        # The first event arrived while the page still runs: nothing held it back.
        assert first == ["event: first", "id: 7", "retry: 1500", "data: last=41", "data: second line"]
        assert next(lines) == ""
        # The page waits on its channel: comment lines keep the connection alive meanwhile.
        assert (next(lines), next(lines)) == (":", "")
        go = httpx.get(f"{server.url}/go", params={"key": key})
        assert go.text == "ok\n"
        rest = list(lines)
        while rest[:2] == [":", ""]:
            del rest[:2]  # heartbeats that went out before the message came
        # CR LF and LF alike end a data line (one event, two data lines).
        assert rest == ["event: second", "data: go", "data: now", ""]


def test_event_stream_is_never_cached(server: RunningServer) -> None:
    # Two readers at once each get their own stream (no response-cache collapsing), and neither is stored.
    with httpx.Client(timeout=30) as client, \
            client.stream("GET", f"{server.url}/lua", params={"key": "c1"}) as one, \
            client.stream("GET", f"{server.url}/lua", params={"key": "c1"}) as two:
        first, second = one.iter_lines(), two.iter_lines()
        assert next(first) == "event: first" and next(second) == "event: first"
        httpx.get(f"{server.url}/go", params={"key": "c1"})
        assert "event: second" in list(first)
        assert "event: second" in list(second)
        assert "x-cache" not in one.headers
