"""The demo's real-time pages in a real browser: a chat between two headless Chromium tabs (WebSocket and
channels), also through a second dynlan whose `proxy` rule fronts the first, and server-sent events read by
Chromium's EventSource."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests._server import RunningServer, run_dynlan
from tests.e2e._cdp import chromium

pytestmark = pytest.mark.e2e

DEMO = Path(__file__).resolve().parents[2] / "sites" / "demo"


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    with run_dynlan(DEMO, config="[websocket]\nheartbeat = 0.5\n") as running:
        yield running


def test_chat_between_two_chromium_tabs(server: RunningServer) -> None:
    _chat(server.url)


def test_chat_through_a_proxy(server: RunningServer, tmp_path: Path) -> None:
    # The demo behind another dynlan: pages, scripts and the WebSocket upgrade all go through its `proxy` rule.
    front = tmp_path / "front"
    front.mkdir()
    (front / "dynlan.toml").write_text(f'[[route]]\npath = "/*"\nproxy = {{ upstreams = ["{server.url}"] }}\n')
    with run_dynlan(front, config='[outbound]\nallow = ["127.0.0.1:*"]\n') as proxy:
        _chat(proxy.url)
        assert "proxy:" not in proxy.log()  # no upstream failure on the way


def _chat(base: str) -> None:
    async def go() -> None:
        async with chromium() as browser:
            log = "document.getElementById('log').textContent"
            alice = await browser.tab(f"{base}/realtime/room.html?name=alice")
            # Alice hears her own join, which her page publishes once it is subscribed to the room: only then
            # does Bob come (a join published before her subscription would be nobody's to hear).
            await browser.wait_for(alice, f"{log}.includes('alice joined')")
            bob = await browser.tab(f"{base}/realtime/room.html?name=bob")
            await browser.wait_for(bob, "document.body && document.body.dataset.state === 'open'")
            await browser.wait_for(alice, f"{log}.includes('bob joined')")
            await browser.evaluate(alice, "say('hello from alice')")
            await browser.wait_for(bob, f"{log}.includes('alice: hello from alice')")
            await browser.evaluate(bob, "say('hi alice, bob here')")
            await browser.wait_for(alice, f"{log}.includes('bob: hi alice, bob here')")
            # Each tab also sees its own words, as the room does.
            await browser.wait_for(alice, f"{log}.includes('alice: hello from alice')")
    asyncio.run(asyncio.wait_for(go(), 120))


def test_server_sent_events_in_chromium(server: RunningServer) -> None:
    async def go() -> None:
        async with chromium() as browser:
            tab = await browser.tab(f"{server.url}/realtime/events.html?count=3&interval=0.2")
            items = "Array.from(document.querySelectorAll('#events li')).map(li => li.textContent)"
            await browser.wait_for(tab, f"{items}.length >= 3")
            seen = await browser.evaluate(tab, items)
            # Two lines of data each (one event, not two), in order, with their ids.
            assert seen[:3] == ["tick 1: tick 1 / of 3", "tick 2: tick 2 / of 3", "tick 3: tick 3 / of 3"]
            # The stream ended: EventSource reconnects with Last-Event-ID 3 and the page goes on from there.
            await browser.wait_for(tab, f"{items}.length >= 6", timeout=30)
            seen = await browser.evaluate(tab, items)
            assert seen[3] == "tick 4: tick 4 / of 6"
    asyncio.run(asyncio.wait_for(go(), 120))
