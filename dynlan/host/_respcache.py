"""The response cache: whole page responses kept in memory and served without running the page.

A page opts in through the host API (`response.cache(ttl, {vary=..., tags=...})`
or its language's spelling) or with a `Cache-Control` header that allows a
shared cache to store it (RFC 9111 §3: `s-maxage`, or `max-age` without
`private`/`no-store`/`no-cache`). Only complete, non-error responses to GET
without credentials are stored (RFC 9111 §3.5: `Authorization` requests are not
served to others); responses that set cookies are never stored, so one user's
session cannot reach another.

Keys follow RFC 9111 §4.1: (site, path, query) picks the primary entry, whose
recorded `Vary` header names then select the variant. `Accept-Encoding` is not
part of the key: the cache keeps the identity body and builds each compressed
variant once, on first demand. A page may say the query does not matter
(`query = false`) or which of its parameters do (`query = {"page"}`).

Expired entries are kept for a grace period: when the page fails while its
entry is stale, the stale response is served instead of the error
(`stale-if-error`, RFC 5861 §4). Concurrent misses on an entry that existed
wait for the first one to refill it rather than all running the page
(the thundering herd when a popular entry expires).

Everything here is synchronous bookkeeping except `send`, which writes a
response to an exchange, and `SharedResponses`: with `[cache] responses_backend =
"redis"` the entries also live in Redis, where every worker and instance finds
them (each worker's memory stays in front of it), and a purge deletes them there.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import trio

from dynlan import compression
from dynlan.config import CompressionConfig
from dynlan.http import Exchange, Headers, HttpRequest
from dynlan.static import etag_none_match

if TYPE_CHECKING:
    from dynlan.host._redis import RedisLink

log = logging.getLogger("dynlan")

# Status codes a cache may store by default (RFC 9110 §15.1), minus the errors
# (an error is never kept in place of a page that might recover).
CACHEABLE_STATUS = frozenset({200, 203, 204, 300, 301, 308})
# Response headers a cached copy never repeats: per-connection or recomputed on send.
_DROPPED = frozenset({"content-length", "date", "server", "connection", "transfer-encoding",
                      "keep-alive", "age", "x-cache", "cache-status", "cache-tag"})
_ENTRY_OVERHEAD = 512


@dataclass(frozen=True, slots=True)
class CachePolicy:
    """How a page asked for its response to be cached."""

    ttl: float
    vary: tuple[str, ...] = ()
    """Request headers (lower-case) whose values select a variant."""
    tags: tuple[str, ...] = ()
    """Names a purge can address the response by."""
    query: bool | tuple[str, ...] = True
    """Whether the query string is part of the key, or which of its parameters are."""
    stale_if_error: float | None = None
    """Seconds past expiry the response may stand in for a failing page (None: the server's default)."""


class PolicyError(ValueError):
    """A page passed an invalid cache policy."""


def make_policy(
    ttl: object, vary: object = None, tags: object = None, query: object = None, stale_if_error: object = None,
) -> CachePolicy:
    """A policy from host-API arguments, checked (what every language binding calls)."""
    if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not 0 < ttl <= 365 * 86400:
        raise PolicyError(f"cache ttl must be a number of seconds above 0, got {ttl!r}")

    def names(value: object, what: str) -> tuple[str, ...]:
        if value is None:
            return ()
        if isinstance(value, str):
            value = [value]
        if isinstance(value, dict):  # a Lua list arrives as {1: ..., 2: ...}
            value = list(value.values())
        if not isinstance(value, list | tuple):
            raise PolicyError(f"cache {what} must be a list of strings")
        out = []
        for item in value:
            if not isinstance(item, str) or not item or any(c in item for c in "\r\n\0,"):
                raise PolicyError(f"cache {what} must be a list of non-empty strings, got {item!r}")
            out.append(item)
        return tuple(out)

    query_rule: bool | tuple[str, ...] = True
    if isinstance(query, bool):
        query_rule = query
    elif query is not None:
        query_rule = tuple(sorted(names(query, "query")))
    grace: float | None = None
    if stale_if_error is not None:
        if isinstance(stale_if_error, bool) or not isinstance(stale_if_error, int | float) or stale_if_error < 0:
            raise PolicyError("cache stale_if_error must be a number of seconds")
        grace = float(stale_if_error)
    return CachePolicy(
        float(ttl),
        tuple(sorted({v.lower() for v in names(vary, "vary")})),
        names(tags, "tags"),
        query_rule,
        grace,
    )


def _directives(value: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in value.split(","):
        name, _, arg = part.strip().partition("=")
        if name:
            out[name.lower()] = arg.strip().strip('"')
    return out


def policy_from_headers(headers: Headers, declared: CachePolicy | None) -> CachePolicy | None:
    """The policy a response carries: the page's declaration, or what its headers allow.

    `Cache-Control: no-store` or `private` always wins (RFC 9111 §5.2.2.5,
    §5.2.2.7); `Vary` and `Cache-Tag` add to what the page declared.
    """
    if declared is None and "cache-control" not in headers:
        return None  # the common page response: nothing asks for caching
    control = _directives(", ".join(headers.get_all("cache-control")))
    if "no-store" in control or "private" in control:
        return None
    policy = declared
    if policy is None:
        if "no-cache" in control:
            return None
        raw = control.get("s-maxage") or control.get("max-age")
        if not raw or not raw.isdigit() or int(raw) <= 0:
            return None
        grace = control.get("stale-if-error")
        policy = CachePolicy(
            float(raw), stale_if_error=float(grace) if grace and grace.isdigit() else None
        )
    vary_header = [v.strip().lower() for value in headers.get_all("vary") for v in value.split(",") if v.strip()]
    if "*" in vary_header:
        return None  # RFC 9111 §4.1: Vary: * never matches
    extra_vary = {v for v in vary_header if v != "accept-encoding"}
    extra_tags = [t.strip() for value in headers.get_all("cache-tag") for t in value.split(",") if t.strip()]
    if extra_vary - set(policy.vary) or extra_tags:
        policy = CachePolicy(
            policy.ttl,
            tuple(sorted(set(policy.vary) | extra_vary)),
            tuple(dict.fromkeys((*policy.tags, *extra_tags))),
            policy.query,
            policy.stale_if_error,
        )
    return policy


@dataclass(slots=True)
class CachedResponse:
    site: str
    path: str
    key: tuple[str, ...]
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    etag: str
    compressible: bool
    created: float
    expires: float
    stale_until: float
    tags: tuple[str, ...]
    variants: dict[str, bytes] = field(default_factory=dict)
    hits: int = 0
    removed: bool = False
    """Dropped from its cache (purged, evicted, expired past its grace or stored again): an answer kept from it
    (`_KeptHit`) no longer stands."""

    @property
    def size(self) -> int:
        return len(self.body) + sum(len(v) for v in self.variants.values()) + _ENTRY_OVERHEAD

    def variant(self, coding: str) -> bytes:
        data = self.variants.get(coding)
        if data is None:
            data = self.variants[coding] = compression.compress(self.body, coding)
        return data


@dataclass(frozen=True, slots=True)
class _Spec:
    """What a path's responses vary on, learnt from the last stored response."""

    query: bool | tuple[str, ...]
    vary: tuple[str, ...]


class ResponseCache:
    """Page responses in memory, LRU within a byte budget, addressable by path and tag."""

    def __init__(
        self,
        max_bytes: int = 64 * 1024 * 1024,
        *,
        max_entry: int = 8 * 1024 * 1024,
        stale_if_error: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_bytes = max_bytes
        self.max_entry = max_entry
        self.stale_if_error = stale_if_error
        self._clock = clock
        self._entries: OrderedDict[tuple[str, ...], CachedResponse] = OrderedDict()
        self._specs: dict[tuple[str, str], _Spec] = {}
        self._by_path: dict[tuple[str, str], set[tuple[str, ...]]] = {}
        self._by_tag: dict[str, set[tuple[str, ...]]] = {}
        self._filling: dict[tuple[str, str], trio.Event] = {}
        self._bytes = 0
        self.hits = 0
        self.misses = 0
        self.stale_served = 0
        self.stores = 0
        self.purged = 0
        self.evictions = 0
        self.shared: SharedResponses | None = None
        """The entries in Redis (`responses_backend = "redis"`), behind this worker's own."""

    # -- keys -------------------------------------------------------------------

    def key_for(self, site: str, request: HttpRequest) -> tuple[str, ...] | None:
        """The entry key for this request, or None when the path was never stored."""
        spec = self._specs.get((site, request.path))
        if spec is None:
            return None
        return self._key(site, request, spec)

    @staticmethod
    def _key(site: str, request: HttpRequest, spec: _Spec) -> tuple[str, ...]:
        if spec.query is True:
            query = request.query_string
        elif spec.query is False:
            query = ""
        else:
            q = request.query
            query = "&".join(f"{name}={','.join(q.get(name, ()))}" for name in spec.query)
        headers = request.headers
        return (site, request.path, query, *(", ".join(headers.get_all(h)) for h in spec.vary))

    # -- lookup -------------------------------------------------------------------

    @staticmethod
    def eligible(request: HttpRequest) -> bool:
        """Requests a cached response may answer (RFC 9111 §3.5: none with credentials)."""
        return request.method in ("GET", "HEAD") and "authorization" not in request.headers

    def lookup(self, site: str, request: HttpRequest) -> CachedResponse | None:
        """The entry for this request, fresh or within its stale grace; None if there is none."""
        key = self.key_for(site, request)
        if key is None:
            return None
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.stale_until <= self._clock():
            self._remove(key)
            return None
        self._entries.move_to_end(key)
        return entry

    def is_fresh(self, entry: CachedResponse) -> bool:
        return entry.expires > self._clock()

    def filling(self, site: str, request: HttpRequest) -> bool:
        """True while another request is running the page to refill this path."""
        return (site, request.path) in self._filling

    async def wait_filled(self, site: str, request: HttpRequest, timeout: float) -> CachedResponse | None:
        """Wait (bounded) for the request refilling this path; the fresh entry it stored, if any."""
        event = self._filling.get((site, request.path))
        if event is None:
            return None
        with trio.move_on_after(timeout):
            await event.wait()
        entry = self.lookup(site, request)
        return entry if entry is not None and self.is_fresh(entry) else None

    def begin_fill(self, site: str, request: HttpRequest) -> trio.Event | None:
        """Mark a refill of a path that was cached before; others wait on it instead of running the page."""
        slot = (site, request.path)
        if slot not in self._specs or slot in self._filling:
            return None
        event = self._filling[slot] = trio.Event()
        return event

    def end_fill(self, site: str, request: HttpRequest, event: trio.Event | None) -> None:
        if event is not None:
            self._filling.pop((site, request.path), None)
            event.set()

    # -- store --------------------------------------------------------------------

    def store(
        self, site: str, request: HttpRequest, policy: CachePolicy, status: int, headers: list[tuple[str, str]], body: bytes,
    ) -> CachedResponse | None:
        """Keep a response the page produced; None when it may not or cannot be kept."""
        if request.method != "GET" or not self.eligible(request) or status not in CACHEABLE_STATUS:
            return None
        if len(body) > self.max_entry:
            return None
        kept: list[tuple[str, str]] = []
        etag = ""
        ctype = ""
        for name, value in headers:
            if name == "set-cookie" or name == "content-encoding":
                return None  # a session or an already-encoded body is not shared
            if name in _DROPPED:
                continue
            if name == "etag":
                etag = value
                continue
            if name == "content-type":
                ctype = value
            kept.append((name, value))
        if not etag:
            etag = '"' + hashlib.blake2b(body, digest_size=10).hexdigest() + '"'
        for name in policy.vary:
            # Downstream caches must know what the response varies on too (RFC 9110 §12.5.5).
            compression.add_vary(kept, name)
        slot = (site, request.path)
        spec = _Spec(policy.query, policy.vary)
        if self._specs.get(slot, spec) != spec:
            self.purge(site, path=request.path)  # entries under the old key shape are unreachable now
        self._specs[slot] = spec
        key = self._key(site, request, spec)
        if key in self._entries:
            self._remove(key)
        now = self._clock()
        grace = self.stale_if_error if policy.stale_if_error is None else policy.stale_if_error
        entry = CachedResponse(
            site=site, path=request.path, key=key, status=status, headers=kept, body=body, etag=etag,
            compressible=compression.compressible(ctype), created=now, expires=now + policy.ttl,
            stale_until=now + policy.ttl + grace, tags=policy.tags,
        )
        self._entries[key] = entry
        self._bytes += entry.size
        self._by_path.setdefault(slot, set()).add(key)
        for tag in policy.tags:
            self._by_tag.setdefault(tag, set()).add(key)
        self.stores += 1
        self._evict()
        return entry

    def adopt(self, entry: CachedResponse, spec: _Spec) -> None:
        """Keep an entry another worker or instance stored (`SharedResponses.fetch`)."""
        slot = (entry.site, entry.path)
        if self._specs.get(slot, spec) != spec:
            self.purge(entry.site, path=entry.path)
        self._specs[slot] = spec
        if entry.key in self._entries:
            self._remove(entry.key)
        self._entries[entry.key] = entry
        self._bytes += entry.size
        self._by_path.setdefault(slot, set()).add(entry.key)
        for tag in entry.tags:
            self._by_tag.setdefault(tag, set()).add(entry.key)
        self._evict()

    def spec_of(self, entry: CachedResponse) -> _Spec | None:
        return self._specs.get((entry.site, entry.path))

    def _evict(self) -> None:
        while self._bytes > self.max_bytes and self._entries:
            key = next(iter(self._entries))
            self._remove(key)
            self.evictions += 1

    def _remove(self, key: tuple[str, ...]) -> None:
        entry = self._entries.pop(key, None)
        if entry is None:
            return
        entry.removed = True
        self._bytes -= entry.size
        slot = (entry.site, entry.path)
        keys = self._by_path.get(slot)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._by_path[slot]
        for tag in entry.tags:
            tagged = self._by_tag.get(tag)
            if tagged is not None:
                tagged.discard(key)
                if not tagged:
                    del self._by_tag[tag]

    # -- purge --------------------------------------------------------------------

    def purge(self, site: str | None = None, *, path: str | None = None, tag: str | None = None) -> int:
        """Drop entries by path (a trailing `*` matches a prefix), by tag, or all of a site (or all).

        Returns how many responses were dropped.
        """
        keys: Iterable[tuple[str, ...]]
        if tag is not None:
            keys = [k for k in self._by_tag.get(tag, ()) if site is None or k[0] == site]
        elif path is not None:
            if path.endswith("*"):
                prefix = path[:-1]
                keys = [k for (s, p), ks in self._by_path.items() for k in ks
                        if p.startswith(prefix) and (site is None or s == site)]
            else:
                keys = [k for (s, p), ks in self._by_path.items() for k in ks
                        if p == path and (site is None or s == site)]
        else:
            keys = [k for k in self._entries if site is None or k[0] == site]
        count = 0
        for key in list(keys):
            if key in self._entries:
                self._remove(key)
                count += 1
        self.purged += count
        return count

    def statistics(self) -> dict[str, int | float]:
        return {
            "entries": len(self._entries), "bytes": self._bytes, "hits": self.hits, "misses": self.misses,
            "stale_served": self.stale_served, "stores": self.stores, "purged": self.purged,
            "evictions": self.evictions,
        }

    # -- answer -------------------------------------------------------------------

    async def send(
        self, exchange: Exchange, entry: CachedResponse, compression_cfg: CompressionConfig | None, label: str,
        keep: bool = False,
    ) -> None:
        """Answer from a cached entry: the client's encoding, its conditional headers, Age and X-Cache.

        `keep`: nothing but the entry and the request's plain fields decide this answer (the pipeline's call: no
        rule applies). A fresh hit of an entry that varies on no request field may then be kept by the connection
        and written again without the app (`dynlan.server._replay`) while the entry stands and its Age holds."""
        request = exchange.request
        body = entry.body
        etag = entry.etag
        headers = list(entry.headers)
        if entry.compressible and compression_cfg is not None and compression_cfg.enabled:
            compression.add_vary(headers)
            if len(body) >= compression_cfg.min_size and entry.status == 200:
                coding = compression.negotiate(request.headers.get("accept-encoding"), compression.available_codings())
                if coding is not None:
                    body = entry.variant(coding)
                    headers.append(("content-encoding", coding))
                    # Each encoding is its own representation (RFC 9110 §8.8.3): its own validator.
                    etag = f'{etag[:-1]}-{coding}"' if etag.endswith('"') else etag
        entry.hits += 1
        if label == "HIT":
            self.hits += 1
        elif label == "MISS":
            self.misses += 1
        else:
            self.stale_served += 1
        age = max(0, int(self._clock() - entry.created))
        headers.append(("etag", etag))
        headers.append(("age", str(age)))
        headers.append(("x-cache", label))
        headers.append(("cache-status", f"dynlan; {'hit' if label == 'HIT' else 'fwd=stale' if label == 'STALE' else 'fwd=miss; stored'}"))
        inm = request.headers.get("if-none-match")
        if inm is not None and entry.status == 200 and etag_none_match(inm, etag):
            # RFC 9110 §15.4.5: a 304 carries the validators and caching headers, no body.
            await exchange.respond(
                304, [(k, v) for k, v in headers if k in ("etag", "cache-control", "vary", "expires", "age", "x-cache", "cache-status")], b"",
            )
            return
        headers.append(("content-length", str(len(body))))
        if keep and label == "HIT" and len(entry.key) == 3 and entry.status == 200 and exchange.replayable:
            # The answer holds while the Age it carries does (until the next whole second of age), and no later
            # than the entry is fresh; `_KeptHit` checks the entry is still there.
            now = self._clock()
            until = min(entry.expires, entry.created + age + 1)
            exchange.allow_replay_while(_KeptHit(self, entry), time.monotonic() + (until - now))
        await exchange.respond(entry.status, headers, body)


class _KeptHit:
    """A cache hit kept by a connection (`ReplaySource`): it stands while its entry is fresh and in the cache."""

    __slots__ = ("cache", "entry")

    def __init__(self, cache: ResponseCache, entry: CachedResponse) -> None:
        self.cache = cache
        self.entry = entry

    def current(self) -> bool:
        return not self.entry.removed and self.cache.is_fresh(self.entry)

    def hit(self) -> None:
        self.entry.hits += 1
        self.cache.hits += 1


def _glob_escape(text: str) -> str:
    """`text` matched literally by Redis's SCAN MATCH."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


class SharedResponses:
    """Cached responses in Redis: stored by whichever worker of whichever instance ran the page, found by all.

    Per (site, path) a `spec` key says what the path's responses vary on (the query, request headers), so another
    instance builds the same entry key; each entry is one JSON value whose Redis expiry is its stale-if-error end;
    per path and per tag a set names the entries, for purges. Times cross as wall-clock times (each process keeps
    its own monotonic clock). Redis being away makes the cache a per-worker one until it is back: a failure is
    logged once a minute, never the request's.
    """

    WARN_EVERY = 60.0

    def __init__(self, link: RedisLink, responses: ResponseCache) -> None:
        self.link = link
        self.responses = responses
        self._warned = 0.0
        self.hits = 0
        self.failures = 0

    def _digest(self, key: tuple[str, ...]) -> str:
        return hashlib.blake2b("\0".join(key).encode("utf-8", "surrogateescape"), digest_size=16).hexdigest()

    def _failed(self, exc: Exception) -> None:
        self.failures += 1
        now = time.monotonic()
        if now - self._warned > self.WARN_EVERY:
            self._warned = now
            log.warning("the shared response cache is unavailable: %s", exc)

    async def fetch(self, site: str, request: HttpRequest) -> CachedResponse | None:
        """The entry another worker or instance stored for this request (kept in this worker's memory too)."""
        from dynlan.host._redis import RedisUnavailable

        link = self.link
        client = link.client
        try:
            raw_spec = await link.run(client.get, link.key("rc-spec", site, request.path))
            if raw_spec is None:
                return None
            spec_data = json.loads(raw_spec)
            query = spec_data["query"]
            spec = _Spec(tuple(query) if isinstance(query, list) else bool(query), tuple(spec_data["vary"]))
            key = ResponseCache._key(site, request, spec)
            raw = await link.run(client.get, link.key("rc", site, self._digest(key)))
        except RedisUnavailable as exc:
            self._failed(exc)
            return None
        if raw is None:
            return None
        data: dict[str, Any] = json.loads(raw)
        shift = self.responses._clock() - time.time()
        entry = CachedResponse(
            site=site, path=request.path, key=key, status=data["status"],
            headers=[(k, v) for k, v in data["headers"]], body=base64.b64decode(data["body"]), etag=data["etag"],
            compressible=data["compressible"], created=data["created"] + shift, expires=data["expires"] + shift,
            stale_until=data["stale_until"] + shift, tags=tuple(data["tags"]),
        )
        if entry.stale_until <= self.responses._clock():
            return None
        self.hits += 1
        self.responses.adopt(entry, spec)
        return entry

    async def put(self, entry: CachedResponse) -> None:
        """Share an entry this worker stored."""
        from dynlan.host._redis import RedisUnavailable

        spec = self.responses.spec_of(entry)
        if spec is None:
            return
        shift = time.time() - self.responses._clock()
        ttl = int((entry.stale_until - self.responses._clock()) * 1000)
        if ttl <= 0:
            return
        link = self.link
        digest = self._digest(entry.key)
        value = json.dumps({
            "status": entry.status, "headers": entry.headers, "body": base64.b64encode(entry.body).decode("ascii"),
            "etag": entry.etag, "compressible": entry.compressible, "created": entry.created + shift,
            "expires": entry.expires + shift, "stale_until": entry.stale_until + shift, "tags": list(entry.tags),
        })
        spec_value = json.dumps({"query": list(spec.query) if isinstance(spec.query, tuple) else spec.query,
                                 "vary": list(spec.vary)})

        def write() -> None:
            pipe = link.client.pipeline(transaction=True)
            pipe.set(link.key("rc-spec", entry.site, entry.path), spec_value, px=ttl)
            pipe.set(link.key("rc", entry.site, digest), value, px=ttl)
            for index in (link.key("rc-path", entry.site, entry.path),
                          *(link.key("rc-tag", entry.site, tag) for tag in entry.tags)):
                pipe.sadd(index, digest)
                pipe.pexpire(index, ttl, gt=True)
                pipe.pexpire(index, ttl, nx=True)
            pipe.execute()

        try:
            await link.run(write)
        except RedisUnavailable as exc:
            self._failed(exc)

    async def purge(self, site: str | None, *, path: str | None = None, tag: str | None = None) -> int:
        """Delete entries from Redis by path (a trailing `*` matches a prefix), by tag, or all (neither), of one
        site or of every site (None)."""
        from dynlan.host._redis import RedisUnavailable

        link = self.link
        client = link.client
        sites = _glob_escape(site) if site is not None else "*"

        def delete() -> int:
            if tag is not None:
                kind, pattern = "rc-tag", _glob_escape(link.key("rc-tag", "")) + sites + _glob_escape("\0" + tag)
            elif path is not None and not path.endswith("*"):
                kind, pattern = "rc-path", _glob_escape(link.key("rc-path", "")) + sites + _glob_escape("\0" + path)
            else:
                prefix = path[:-1] if path is not None else ""
                kind, pattern = "rc-path", (_glob_escape(link.key("rc-path", "")) + sites
                                            + _glob_escape("\0" + prefix) + "*")
            head = link.key(kind, "")
            count = 0
            for raw in client.scan_iter(match=pattern, count=500):
                index = raw.decode("utf-8", "surrogateescape") if isinstance(raw, bytes) else str(raw)
                # `PREFIX kind NUL site NUL rest`: a site's name never holds a NUL.
                owner, _, rest = index[len(head):].partition("\0")
                members = client.smembers(index)
                names = [link.key("rc", owner, m.decode("ascii") if isinstance(m, bytes) else m) for m in members]
                if names:
                    count += int(client.delete(*names))
                client.delete(index)
                if kind == "rc-path":
                    client.delete(link.key("rc-spec", owner, rest))
            return count

        try:
            count: int = await link.run(delete)
        except RedisUnavailable as exc:
            self._failed(exc)
            return 0
        return count
