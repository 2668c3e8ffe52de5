"""The worker's connection pools (`dynlan/proxy/_pool.py`) and the read timer (`_timer.py`), over socket pairs."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable

import pytest
import trio
import trio.testing

from dynlan.proxy._client import Http1Connection, UpstreamTimeout
from dynlan.proxy._config import Timeouts
from dynlan.proxy._pool import CHECK_AFTER, Pools
from dynlan.proxy._timer import TICK

A = ("http", "127.0.0.1", 9001, "")
B = ("http", "127.0.0.1", 9002, "")


Make = Callable[..., tuple[Http1Connection, trio.socket.SocketType]]


@pytest.fixture
async def connection() -> AsyncIterator[Make]:
    """Makes a client connection over one end of a socket pair (the other end plays the server); closes both."""
    made: list[trio.socket.SocketType] = []

    def make(origin: tuple[str, str, int, str] = A, read: float = 60.0) -> tuple[Http1Connection, trio.socket.SocketType]:
        ours, theirs = trio.socket.socketpair()
        made.extend((ours, theirs))
        conn = Http1Connection(trio.SocketStream(ours), origin, Timeouts(read=read))
        conn.reusable = True  # as after a whole exchange on a keep-alive connection
        return conn, theirs

    yield make
    for sock in made:
        sock.close()


async def test_a_connection_goes_back_to_its_origin_and_the_last_one_in_comes_out_first(connection: Make) -> None:
    pools = Pools()
    (first, _s1), (second, _s2), (other, _s3) = connection(), connection(), connection(B)
    pools.put(first, 8)
    pools.put(second, 8)
    pools.put(other, 8)
    assert pools.statistics() == {"idle": 3, "origins": 2}
    assert pools.take(A) is second and pools.take(A) is first and pools.take(A) is None
    assert pools.take(B) is other


async def test_the_limit_per_origin_and_an_unusable_connection_close_it(connection: Make) -> None:
    pools = Pools()
    (kept, _s1), (extra, _s2), (spent, _s3) = connection(), connection(), connection()
    pools.put(kept, 1)
    pools.put(extra, 1)  # over the caller's limit for A
    spent.reusable = False
    pools.put(spent, 8)
    assert pools.statistics()["idle"] == 1
    assert extra.stream.socket.fileno() == -1 and spent.stream.socket.fileno() == -1  # closed
    assert kept.stream.socket.fileno() >= 0


async def test_a_connection_idle_for_a_while_is_checked_before_reuse(connection: Make) -> None:
    pools = Pools()
    (closed, server_end), (fresh, _s) = connection(), connection()
    pools.put(fresh, 8)
    pools.put(closed, 8)
    server_end.close()  # the server closed it while idle: its EOF is readable
    # Used a moment ago: taken without a poll (a close racing the reuse is the users' retry to cover).
    assert pools.take(A) is closed
    pools.put(closed, 8)
    closed.idle_since = time.monotonic() - CHECK_AFTER - 0.1
    # Idle for longer: polled, found closed, dropped; the next one is taken.
    assert pools.take(A) is fresh
    assert pools.take(A) is None


async def test_a_closed_pool_keeps_nothing(connection: Make) -> None:
    pools = Pools()
    (conn, _s) = connection()
    pools.close()
    pools.put(conn, 8)
    assert pools.take(A) is None and pools.statistics() == {"idle": 0, "origins": 0}


async def test_the_timer_ends_a_wait_past_the_read_timeout(connection: Make, autojump_clock: trio.testing.MockClock) -> None:
    async with trio.open_nursery() as nursery:
        pools = Pools.of({}, nursery)
        conn, _server_end = connection(read=2.0)
        conn.timer = pools.timer
        await trio.testing.wait_all_tasks_blocked()
        assert pools.timer.running
        await conn.send_request("GET", "/", [("host", "x")], chunked=False, body=False)
        started = trio.current_time()
        with pytest.raises(UpstreamTimeout):
            await conn.next_event()
        waited = trio.current_time() - started
        assert 2.0 <= waited <= 2.0 + 2 * TICK, waited
        assert conn.expired and not pools.timer.waiting
        nursery.cancel_scope.cancel()


async def test_without_a_running_timer_a_wait_has_its_own_deadline(connection: Make, autojump_clock: trio.testing.MockClock) -> None:
    conn, _server_end = connection(read=3.0)
    conn.timer = Pools().timer  # never started
    await conn.send_request("GET", "/", [("host", "x")], chunked=False, body=False)
    started = trio.current_time()
    with pytest.raises(UpstreamTimeout):
        await conn.next_event()
    assert trio.current_time() - started == pytest.approx(3.0, abs=0.01)
