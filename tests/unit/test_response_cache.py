"""The response cache's bookkeeping: policies, keys, expiry, stale grace, purge, eviction."""

from __future__ import annotations

import pytest

from dynlan.host import CachePolicy, PolicyError, ResponseCache, make_policy
from dynlan.host._respcache import policy_from_headers
from dynlan.http import Headers, HttpRequest


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def req(path: str = "/p", query: str = "", method: str = "GET", **headers: str) -> HttpRequest:
    return HttpRequest(
        method=method, target=path + ("?" + query if query else ""), path=path, query_string=query,
        headers=Headers([(k.replace("_", "-"), v) for k, v in headers.items()]), http_version="1.1",
        scheme="http", host="localhost", client=None, request_id="r1",
    )


HTML = [("content-type", "text/html; charset=utf-8")]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cache(clock: Clock) -> ResponseCache:
    return ResponseCache(1024 * 1024, stale_if_error=30, clock=clock)


def test_store_and_lookup(cache: ResponseCache) -> None:
    assert cache.lookup("s", req()) is None
    entry = cache.store("s", req(), CachePolicy(10), 200, HTML, b"hello")
    assert entry is not None and entry.etag.startswith('"')
    found = cache.lookup("s", req())
    assert found is entry and cache.is_fresh(found)
    assert cache.lookup("other-site", req()) is None
    assert cache.lookup("s", req(query="a=1")) is None


def test_expiry_then_stale_grace_then_gone(cache: ResponseCache, clock: Clock) -> None:
    cache.store("s", req(), CachePolicy(10), 200, HTML, b"x")
    clock.now += 11
    entry = cache.lookup("s", req())
    assert entry is not None and not cache.is_fresh(entry)  # stale, kept for stale-if-error
    clock.now += 30
    assert cache.lookup("s", req()) is None
    assert cache.statistics()["entries"] == 0


def test_policy_grace_overrides_default(cache: ResponseCache, clock: Clock) -> None:
    cache.store("s", req(), CachePolicy(10, stale_if_error=0), 200, HTML, b"x")
    clock.now += 10.5
    assert cache.lookup("s", req()) is None


def test_vary_selects_the_variant(cache: ResponseCache) -> None:
    policy = CachePolicy(10, vary=("accept-language",))
    fr = cache.store("s", req(accept_language="fr"), policy, 200, HTML, b"bonjour")
    en = cache.store("s", req(accept_language="en"), policy, 200, HTML, b"hello")
    assert fr is not None and en is not None
    assert cache.lookup("s", req(accept_language="fr")) is fr
    assert cache.lookup("s", req(accept_language="en")) is en
    assert cache.lookup("s", req()) is None
    assert ("vary", "accept-language") in fr.headers


def test_query_rules(cache: ResponseCache) -> None:
    cache.store("s", req(query="page=2&utm=x"), CachePolicy(10, query=("page",)), 200, HTML, b"page 2")
    hit = cache.lookup("s", req(query="utm=y&page=2"))
    assert hit is not None and hit.body == b"page 2"
    assert cache.lookup("s", req(query="page=3")) is None
    cache.store("s", req("/q", query="a=1"), CachePolicy(10, query=False), 200, HTML, b"any")
    assert cache.lookup("s", req("/q", query="b=2")) is not None


@pytest.mark.parametrize(
    ("request_", "status", "headers"),
    [
        (req(method="POST"), 200, HTML),
        (req(method="HEAD"), 200, HTML),
        (req(authorization="Bearer x"), 200, HTML),
        (req(), 500, HTML),
        (req(), 404, HTML),
        (req(), 200, [*HTML, ("set-cookie", "sid=1")]),
        (req(), 200, [*HTML, ("content-encoding", "gzip")]),
    ],
    ids=["post", "head", "authorization", "500", "404", "set-cookie", "encoded"],
)
def test_not_stored(cache: ResponseCache, request_: HttpRequest, status: int, headers: list[tuple[str, str]]) -> None:
    assert cache.store("s", request_, CachePolicy(10), status, headers, b"body") is None
    assert cache.lookup("s", req()) is None


def test_too_large_is_not_stored(clock: Clock) -> None:
    cache = ResponseCache(1024 * 1024, max_entry=100, clock=clock)
    assert cache.store("s", req(), CachePolicy(10), 200, HTML, b"x" * 101) is None


def test_purge_by_path_prefix_tag_and_all(cache: ResponseCache) -> None:
    cache.store("s", req("/blog/1"), CachePolicy(10, tags=("posts",)), 200, HTML, b"1")
    cache.store("s", req("/blog/2"), CachePolicy(10, tags=("posts", "p2")), 200, HTML, b"2")
    cache.store("s", req("/about"), CachePolicy(10), 200, HTML, b"a")
    cache.store("t", req("/about"), CachePolicy(10), 200, HTML, b"a")
    assert cache.purge("s", tag="p2") == 1
    assert cache.lookup("s", req("/blog/2")) is None
    assert cache.purge("s", path="/blog/*") == 1
    assert cache.purge(None, path="/about") == 2
    cache.store("s", req("/x"), CachePolicy(10), 200, HTML, b"x")
    assert cache.purge("t") == 0
    assert cache.purge() == 1
    assert cache.statistics()["entries"] == 0 and cache.statistics()["bytes"] == 0


def test_lru_eviction_within_budget(clock: Clock) -> None:
    cache = ResponseCache(3000, clock=clock)
    for i in range(5):
        cache.store("s", req(f"/{i}"), CachePolicy(10), 200, HTML, b"x" * 500)
        cache.lookup("s", req("/0"))  # keep /0 recently used
    stats = cache.statistics()
    assert stats["bytes"] <= 3000 and stats["evictions"] > 0
    assert cache.lookup("s", req("/0")) is not None
    assert cache.lookup("s", req("/1")) is None


def test_variants_are_built_once(cache: ResponseCache) -> None:
    entry = cache.store("s", req(), CachePolicy(10), 200, HTML, b"<p>compress me</p>" * 200)
    assert entry is not None
    gz = entry.variant("gzip")
    assert entry.variant("gzip") is gz
    assert cache.statistics()["bytes"] < len(entry.body) + len(gz) + 1024


def test_policy_from_headers() -> None:
    def policy(*pairs: tuple[str, str], declared: CachePolicy | None = None) -> CachePolicy | None:
        return policy_from_headers(Headers(list(pairs)), declared)

    assert policy() is None
    assert policy(("cache-control", "max-age=60")) == CachePolicy(60.0)
    assert policy(("cache-control", "public, max-age=60, s-maxage=5")) == CachePolicy(5.0)
    assert policy(("cache-control", "private, max-age=60")) is None
    assert policy(("cache-control", "no-store"), declared=CachePolicy(10)) is None
    assert policy(("cache-control", "no-cache, max-age=60")) is None
    assert policy(("cache-control", "max-age=0")) is None
    p = policy(("cache-control", "max-age=60, stale-if-error=5"), ("vary", "Accept-Encoding, Cookie"), ("cache-tag", "a, b"))
    assert p == CachePolicy(60.0, vary=("cookie",), tags=("a", "b"), stale_if_error=5.0)
    assert policy(("vary", "*"), declared=CachePolicy(10)) is None


def test_make_policy_checks_its_arguments() -> None:
    assert make_policy(30, ["Accept-Language"], "news", ["page"], 5) == CachePolicy(
        30.0, ("accept-language",), ("news",), ("page",), 5.0
    )
    assert make_policy(30, {"1": "Cookie"}).vary == ("cookie",)  # a Lua list
    for bad in (0, -1, "10", True, None, 10**9):
        with pytest.raises(PolicyError):
            make_policy(bad)
    with pytest.raises(PolicyError):
        make_policy(10, vary=["a\r\nb"])
    with pytest.raises(PolicyError):
        make_policy(10, tags=[1])
    with pytest.raises(PolicyError):
        make_policy(10, stale_if_error=-1)


def test_a_changed_key_shape_drops_old_entries(cache: ResponseCache) -> None:
    cache.store("s", req(), CachePolicy(10), 200, HTML, b"a")
    cache.store("s", req(accept_language="fr"), CachePolicy(10, vary=("accept-language",)), 200, HTML, b"b")
    assert cache.statistics()["entries"] == 1
