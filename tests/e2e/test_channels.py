"""Channels: what a page publishes reaches the subscribers of the same site's channel, across connections, page
languages and worker processes, and across servers through Redis pub/sub; never another site's."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests._server import RunningServer, free_port, run_dynlan
from tests.e2e.test_redis import Redis

pytestmark = pytest.mark.e2e

# A subscriber: "ready <pid>" once subscribed; channel messages go to the socket; "pub:X" publishes X.
SUB_LUA = """
local ws = websocket.accept()
local room = channel.subscribe(request.query.name)
ws:send("ready")
while true do
  local msg, kind, from = ws:receive(room)
  if msg == nil then break end
  if kind == "channel" then ws:send(from .. ": " .. msg)
  elseif msg:sub(1, 4) == "pub:" then channel.publish(room.name, msg:sub(5)) end
end
"""
SUB_PY = """
import os

async def handle(request, response):
    ws = await websocket.accept()
    room = channel.subscribe(request.query["name"])
    await ws.send(f"ready {os.getpid()}")
    while (msg := await ws.receive(room)) is not None:
        if ws.kind == "channel":
            await ws.send(f"{ws.channel}: {msg}")
        elif msg.startswith("pub:"):
            channel.publish(room.name, msg[4:])
"""
PUBLISHERS = {
    "lua": 'channel.publish(request.query.name, request.query.msg)\nprint("ok")\n',
    "py": "def handle(request, response):\n    channel.publish(request.query['name'], request.query['msg'])\n"
          "    response.write('ok\\n')\n",
    "php": "<?php dynlan_channel_publish($_GET['name'], $_GET['msg']); echo \"ok\\n\";\n",
    "wren": 'Channel.publish(Request.query["name"], Request.query["msg"])\nSystem.print("ok")\n',
}


# A page that forges subscriptions by number: it reaches only its own request's (none but the one it made).
FORGE_PY = """
async def handle(request, response):
    own = channel.subscribe("bait")
    Subscription = type(own)
    got, refused = [], 0
    for number in range(1, 65):
        forged = Subscription(own._port, number, "forged")
        try:
            message = await forged.receive(0)
        except Exception:
            refused += 1
            continue
        if message is not None:
            got.append(message)
    response.write(f"refused={refused} got={got}")
"""


def _site(root: Path) -> None:
    root.mkdir(parents=True)
    (root / "sub.lua").write_text(SUB_LUA)
    (root / "forge.py").write_text(FORGE_PY)
    (root / "subpy.py").write_text(SUB_PY)
    for suffix, text in PUBLISHERS.items():
        (root / f"pub-{suffix}.{suffix}").write_text(text)


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("channel-sites")
    _site(root / "a.test")
    _site(root / "b.test")
    return root


@pytest.fixture(scope="module")
def server(sites: Path) -> Iterator[RunningServer]:
    with run_dynlan(sites) as running:
        yield running


@contextlib.asynccontextmanager
async def subscriber(port: int, host: str, name: str, page: str = "sub") -> AsyncIterator[ClientConnection]:
    # The URI names the site (the Host header); the connection goes to the server on loopback.
    async with connect(f"ws://{host}:{port}/{page}?name={name}", host="127.0.0.1", port=port) as ws:
        assert str(await ws.recv()).startswith("ready")
        yield ws


def publish(server: RunningServer, host: str, language: str, name: str, msg: str) -> None:
    r = httpx.get(f"{server.url}/pub-{language}", params={"name": name, "msg": msg}, headers={"host": host}, timeout=30)
    assert r.status_code == 200 and r.text == "ok\n", r.text


def test_across_connections_and_languages(server: RunningServer) -> None:
    async def go() -> None:
        async with subscriber(server.port, "a.test", "room") as one, subscriber(server.port, "a.test", "room") as two:
            await one.send("pub:hi all")
            assert await one.recv() == "room: hi all"
            assert await two.recv() == "room: hi all"
            for language in PUBLISHERS:
                await asyncio.to_thread(publish, server, "a.test", language, "room", f"from {language}")
                assert await two.recv() == f"room: from {language}"
    asyncio.run(asyncio.wait_for(go(), 60))


def test_channels_are_namespaced_per_site(server: RunningServer) -> None:
    async def go() -> None:
        async with subscriber(server.port, "a.test", "room") as victim:
            # Another site's page publishes to a channel of the same name, then the site's own page does: the
            # subscriber hears its own site's message first, so the other's never reached it (delivery is in order).
            for language in PUBLISHERS:
                await asyncio.to_thread(publish, server, "b.test", language, "room", "SECRET from b")
            await asyncio.to_thread(publish, server, "a.test", "lua", "room", "marker")
            assert await victim.recv() == "room: marker"
            async with subscriber(server.port, "b.test", "room") as other:
                await asyncio.to_thread(publish, server, "a.test", "lua", "room", "a only")
                await asyncio.to_thread(publish, server, "b.test", "lua", "room", "b only")
                assert await other.recv() == "room: b only"
                assert await victim.recv() == "room: a only"
    asyncio.run(asyncio.wait_for(go(), 60))


def test_across_worker_processes(sites: Path) -> None:
    async def go(port: int) -> None:
        async with contextlib.AsyncExitStack() as stack:
            by_pid: dict[str, ClientConnection] = {}
            for _ in range(60):  # SO_REUSEPORT spreads new connections over the workers
                ws = await stack.enter_async_context(connect(f"ws://a.test:{port}/subpy?name=w",
                                                             host="127.0.0.1", port=port))
                ready = str(await ws.recv())
                by_pid.setdefault(ready.split()[1], ws)
                if len(by_pid) == 2:
                    break
            assert len(by_pid) == 2, "every connection went to one worker"
            first, second = by_pid.values()
            await first.send("pub:across workers")
            assert await second.recv() == "w: across workers"
            assert await first.recv() == "w: across workers"
    with run_dynlan(sites, "--workers", "2") as server:
        asyncio.run(asyncio.wait_for(go(server.port), 90))


def test_across_servers_through_redis(sites: Path, tmp_path: Path) -> None:
    redis = Redis(free_port(), tmp_path)
    redis.start()
    try:
        config = f'[cache]\nbackend = "redis"\nurl = "redis://127.0.0.1:{redis.port}/0"\n'

        async def go(one: RunningServer, two: RunningServer) -> None:
            async with subscriber(one.port, "a.test", "room") as here, subscriber(two.port, "a.test", "room") as there:
                await here.send("pub:from server one")
                assert await there.recv() == "room: from server one"
                assert await here.recv() == "room: from server one"
                # The site's namespace holds across machines too.
                await asyncio.to_thread(publish, two, "b.test", "lua", "room", "SECRET from b")
                await asyncio.to_thread(publish, two, "a.test", "py", "room", "marker")
                assert await here.recv() == "room: marker"

        with run_dynlan(sites, config=config) as one, run_dynlan(sites, config=config) as two:
            asyncio.run(asyncio.wait_for(go(one, two), 60))
    finally:
        redis.stop()


def test_subscriptions_are_the_requests_own(server: RunningServer) -> None:
    async def go() -> None:
        async with subscriber(server.port, "a.test", "room") as victim, \
                subscriber(server.port, "a.test", "room", page="subpy"):
            await victim.send("pub:SECRET in the room")
            assert await victim.recv() == "room: SECRET in the room"
            # Other requests hold subscriptions 1 and up now, with that message queued: none is reachable.
            r = await asyncio.to_thread(httpx.get, f"{server.url}/forge", headers={"host": "a.test"}, timeout=30)
            assert r.status_code == 200 and r.text == "refused=63 got=[]", r.text
    asyncio.run(asyncio.wait_for(go(), 60))
