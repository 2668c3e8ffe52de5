"""Choosing an upstream (the five policies, passive ejection) and a group's task ending with its config."""

from __future__ import annotations

import collections
import re

import trio
import trio.testing

from dynlan.proxy import parse_proxy
from dynlan.proxy._group import Group

URLS = ["http://127.0.0.1:9001", "http://127.0.0.1:9002", "http://127.0.0.1:9003"]


def group(policy: str, **extra: object) -> Group:
    return Group(parse_proxy({"upstreams": URLS, "policy": policy, **extra}, "p"))


def urls(g: Group, n: int, client: str = "10.0.0.1", sticky: str | None = None) -> list[str]:
    out = []
    for _ in range(n):
        state = g.choose(client, sticky)
        assert state is not None
        out.append(state.upstream.url)
    return out


def test_round_robin_takes_each_in_turn_and_skips_an_ejected_one() -> None:
    g = group("round_robin", eject={"fails": 2, "seconds": 60})
    assert collections.Counter(urls(g, 30)) == {u: 10 for u in URLS}
    g.failed(g.states[1], "refused")
    assert URLS[1] in urls(g, 3)  # one failure of two: still in
    g.failed(g.states[1], "refused")
    assert set(urls(g, 30)) == {URLS[0], URLS[2]}
    g.states[2].healthy = False  # the health checks' verdict
    assert set(urls(g, 10)) == {URLS[0]}
    g.states[0].healthy = False
    # None available: all of them rather than a sure 502.
    assert set(urls(g, 30)) == set(URLS)
    # Excluded (already tried for this request): never again.
    assert g.choose("c", None, exclude=g.states) is None


def test_least_conn_and_random_two_prefer_the_least_busy() -> None:
    for policy in ("least_conn", "random_two"):
        g = group(policy)
        g.states[0].in_flight = 5
        g.states[1].in_flight = 5
        if policy == "least_conn":
            assert set(urls(g, 10)) == {URLS[2]}
        else:
            # Two at random and the less busy of them: the busy ones win only against each other.
            counts = collections.Counter(urls(g, 300))
            assert counts[URLS[2]] > 150


def test_ip_hash_keeps_a_client_and_moves_it_only_when_its_upstream_is_out() -> None:
    g = group("ip_hash")
    homes = {client: set(urls(g, 5, client)) for client in (f"10.0.0.{i}" for i in range(30))}
    assert all(len(h) == 1 for h in homes.values())
    assert len({next(iter(h)) for h in homes.values()}) == 3  # the clients spread over all three
    out = g.states[0]
    out.healthy = False
    for client, home in homes.items():
        now = set(urls(g, 3, client))
        assert len(now) == 1 and (now == home or next(iter(home)) == out.upstream.url)


def test_the_sticky_cookie_names_an_upstream_by_an_opaque_id() -> None:
    g = group("cookie")
    ids = {s.sticky for s in g.states}
    # Opaque: not the address, nor its port (hex digits only, so "9001" could turn up by chance; ":9001" cannot).
    assert len(ids) == 3 and not any("127.0.0.1" in i or ":900" in i for i in ids)
    assert all(re.fullmatch(r"[0-9a-f]+", i) for i in ids), ids
    target = g.states[2]
    assert set(urls(g, 10, sticky=target.sticky)) == {target.upstream.url}
    target.ejected_until = float("inf")
    assert target.upstream.url not in urls(g, 10, sticky=target.sticky)
    # A key in the config makes the ids the same in every process and across restarts.
    keyed = {"cookie_key": "k" * 32}
    assert [s.sticky for s in group("cookie", **keyed).states] == [s.sticky for s in group("cookie", **keyed).states]


async def test_the_groups_task_ends_when_its_config_is_gone(autojump_clock: trio.testing.MockClock) -> None:
    g = group("round_robin")
    wanted = True
    ended = trio.Event()

    async def keep() -> None:
        await g.keep(lambda: wanted)
        ended.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(keep)
        await trio.sleep(60)
        assert not ended.is_set() and not g.closed
        wanted = False
        with trio.fail_after(30):
            await ended.wait()
    assert g.closed


async def test_closing_a_group_stops_its_task(autojump_clock: trio.testing.MockClock) -> None:
    g = group("round_robin")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(g.keep, lambda: True)
        await trio.testing.wait_all_tasks_blocked()
        g.close()
    assert g.closed
