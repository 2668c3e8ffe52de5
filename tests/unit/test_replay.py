"""The kept answers' store (dynlan/server/_replay.py): keys, the date, the file check, the budget, cache hits."""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import pytest

from dynlan.host._respcache import CachedResponse, CachePolicy, ResponseCache, _KeptHit
from dynlan.http import Headers, HttpRequest, RequestReceived
from dynlan.server import _replay
from dynlan.server._replay import ReplayCache

DATE_1 = "Mon, 07 Dec 2026 01:40:26 GMT"
DATE_2 = "Mon, 07 Dec 2026 01:40:27 GMT"


class Clock:
    def __init__(self) -> None:
        self.value = DATE_1

    def get(self) -> str:
        return self.value


@pytest.fixture()
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(_replay, "DATE", c)
    return c


def answer(date: str, body: bytes, *extra: bytes) -> bytes:
    return (b"HTTP/1.1 200 OK\r\ndate: " + date.encode() + b"\r\nserver: dynlan\r\n" + b"".join(extra)
            + b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


def request(*fields: tuple[str, str], method: str = "GET", version: str = "1.1") -> RequestReceived:
    return RequestReceived(1, method, "/a.txt", list(fields), version)


LABELS = ("s", "static", "static")


class File:
    """A file an answer is kept for, and what it is now."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.write_bytes(b"body")
        self.name = str(path)
        self.st = self.stat()

    def stat(self) -> os.stat_result:
        return os.stat(self.name)


@pytest.fixture()
def f(tmp_path: Path) -> File:
    return File(tmp_path / "a.txt")


def test_keys() -> None:
    plain = ReplayCache.key(request(("host", "a"), ("accept-encoding", "gzip"), ("user-agent", "x")), "http")
    assert plain == ("http", "/a.txt", "a", "gzip")
    assert ReplayCache.key(request(("host", "a"), ("connection", "Keep-Alive")), "http") == ("http", "/a.txt", "a", "")
    for fields in ([("cookie", "a=b")], [("range", "bytes=0-1")], [("if-none-match", '"x"')],
                   [("authorization", "Basic eA==")], [("connection", "close")], [("x-forwarded-for", "1.2.3.4")],
                   [("host", "a"), ("host", "b")], [("content-length", "0")]):
        assert ReplayCache.key(request(*fields), "http") is None, fields
    assert ReplayCache.key(request(method="HEAD"), "http") is None
    assert ReplayCache.key(request(version="1.0"), "http") is None


def test_the_date_is_made_again_and_the_rest_kept(clock: Clock, f: File) -> None:
    cache = ReplayCache()
    cache.keep(("http", "/a.txt", "a", ""), answer(DATE_1, b"body"), LABELS, 4, cache.file(f.name, f.st))
    kept = cache.get(("http", "/a.txt", "a", ""))
    assert kept is not None and kept.data == answer(DATE_1, b"body")
    clock.value = DATE_2
    kept = cache.get(("http", "/a.txt", "a", ""))
    assert kept is not None and kept.data == answer(DATE_2, b"body") and kept.labels == LABELS
    cache.used(kept)
    assert cache.hits == 1


def test_what_is_not_kept(clock: Clock, f: File) -> None:
    cache = ReplayCache()
    for data in (answer(DATE_1, b"body", b"connection: close\r\n"), answer(DATE_1, b"body", b"set-cookie: a=b\r\n"),
                 answer(DATE_2, b"body"),  # made in another second than the keeper's
                 b"HTTP/1.1 200 OK\r\ndate: " + DATE_1.encode() + b"\r\ntransfer-encoding: chunked\r\n\r\n4\r\nbody\r\n0\r\n\r\n"):
        cache.keep(("http", "/a.txt", "a", ""), data, LABELS, 4, cache.file(f.name, f.st))
        assert cache.get(("http", "/a.txt", "a", "")) is None
    cache.keep(("http", "/a.txt", "a", ""), answer(DATE_1, b"x" * (_replay.MAX_BODY + 1)), LABELS,
               _replay.MAX_BODY + 1, cache.file(f.name, f.st))
    assert cache.get(("http", "/a.txt", "a", "")) is None


def test_a_changed_file_or_an_old_answer_is_dropped(clock: Clock, f: File, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = ReplayCache()
    key = ("http", "/a.txt", "a", "")
    cache.keep(key, answer(DATE_1, b"body"), LABELS, 4, cache.file(f.name, f.st))
    f.path.write_bytes(b"other")
    assert cache.get(key) is None
    f.path.write_bytes(b"body")
    cache.keep(key, answer(DATE_1, b"body"), LABELS, 4, cache.file(f.name, f.stat()))
    later = time.monotonic() + _replay.RECHECK + 1
    monkeypatch.setattr(time, "monotonic", lambda: later)
    assert cache.get(key) is None


def test_the_budget_bounds_what_is_kept(clock: Clock, f: File, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_replay, "BUDGET", 1000)
    cache = ReplayCache()
    for i in range(20):
        cache.keep(("http", f"/{i}", "a", ""), answer(DATE_1, b"b" * 100), LABELS, 100, cache.file(f.name, f.st))
    assert cache._bytes <= 1000  # noqa: SLF001 - the bound itself
    assert cache.get(("http", "/19", "a", "")) is not None


def test_the_number_of_answers_is_bounded(clock: Clock, f: File, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_replay, "MAX_ENTRIES", 10)
    cache = ReplayCache()
    for i in range(25):
        cache.keep(("http", f"/a.txt?{i}", "a", ""), answer(DATE_1, b"body"), LABELS, 4, cache.file(f.name, f.st))
        assert len(cache._kept) <= 10  # noqa: SLF001 - the bound itself
    assert cache.get(("http", "/a.txt?24", "a", "")) is not None


def test_a_cache_hit_stands_while_its_entry_is_fresh_and_in_the_cache(clock: Clock) -> None:
    now = [100.0]
    responses = ResponseCache(clock=lambda: now[0])
    request_c = HttpRequest("GET", "/c", "/c", "", Headers([("host", "a")]), "1.1", "http", "a", None, "r1")
    key = ("http", "/c", "a", "")
    replay = ReplayCache()

    def keep(until: float = math.inf) -> CachedResponse:
        entry = responses.store("s", request_c, CachePolicy(10.0, tags=("t",)), 200, [], b"body")
        assert entry is not None
        replay.keep(key, answer(DATE_1, b"body"), LABELS, 4, _KeptHit(responses, entry), until)
        return entry

    entry = keep()
    for _ in range(2):
        kept = replay.get(key)
        assert kept is not None
        replay.used(kept)
    assert entry.hits == 2 and responses.hits == 2  # each kept answer used is the cache's hit
    assert responses.purge("s", tag="t") == 1
    assert replay.get(key) is None  # purged: the next request takes the full path
    keep()
    assert responses.store("s", request_c, CachePolicy(10.0), 200, [], b"new") is not None
    assert replay.get(key) is None  # stored again: the kept answer's entry is gone
    keep()
    assert replay.get(key) is not None
    now[0] += 10  # no longer fresh
    assert replay.get(key) is None
    keep(until=time.monotonic() - 1)  # its Age changed
    assert replay.get(key) is None
