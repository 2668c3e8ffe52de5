"""Kept answers: a static file's or a cached page's whole 200 response, written again for the same plain request
without the app.

A site without rules answers a plain `GET` of a small static file with the same bytes every time, but for its
`Date`. Such an answer is kept (its bytes, the file it came from and what that file was), and the next request
with the same target, `Host` and `Accept-Encoding`, and no field that could change the answer, gets those bytes
with the current date, as long as the file is unchanged (one `stat`) and the answer is less than
`RECHECK` old (what routing decided stands as long as the pipeline's own memory of it does). HTTP/1.1 only: the
request, the access log line and the metrics are those of the full path.

Whether an answer may be kept is the pipeline's call: it knows no rule applies to the path, tracing is off and
there is no live reload. Which answer is kept is the static handler's (`Exchange.allow_replay`): a plain 200 of
the file, with the `stat` it made before reading it. What a request may carry is decided here: a field outside
`PLAIN_FIELDS` (a cookie, credentials, a conditional or a range, a body) takes the full path.

A response-cache hit is kept the same way (`Exchange.allow_replay_while`), with its entry as the source instead of a
file: the answer stands while the entry is in the cache and fresh (a purge, an eviction or a new store ends it) and
its `Age` is unchanged, so for at most a second; each request answered with it counts as the cache's hit.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable

from dynlan.http import ReplaySource, RequestReceived
from dynlan.server._state import DATE

PLAIN_FIELDS = frozenset({
    "host", "user-agent", "accept", "accept-language", "accept-encoding", "connection", "referer", "cache-control",
    "pragma", "dnt", "priority", "upgrade-insecure-requests", "sec-fetch-site", "sec-fetch-mode", "sec-fetch-dest",
    "sec-fetch-user", "sec-ch-ua", "sec-ch-ua-mobile", "sec-ch-ua-platform",
})
"""Request fields that change nothing in a static file's plain 200 (with no rules): a request with any other takes
the full path. `Accept-Encoding` is part of the key; `Connection` may only ask for keep-alive."""
RECHECK = 1.0
"""Seconds an answer is kept before the full path decides again (a page added for the URL, a link changed)."""
MAX_BODY = 64 * 1024
"""Largest body kept (larger files go out with sendfile, where a copy gains nothing)."""
BUDGET = 16 * 1024 * 1024
"""Bytes of answers kept in all; past it, they are all dropped and kept again as they are asked for."""
MAX_ENTRIES = 10_000
"""Answers kept in all (many small ones: a client varying `Accept-Encoding` or the query on every request)."""

Key = tuple[str, str, str, str]
Signature = tuple[int, int, int]
"""A file version as the file cache tells them apart (`FileCache.signature`): the kept body is that version's."""


class Kept:
    """One answer: its bytes with the date they were made at, what it came from, the metrics' labels."""

    __slots__ = ("data", "date", "date_at", "expires", "labels", "sent", "source")

    def __init__(self, data: bytes, date: str, date_at: int, labels: tuple[str, str, str], sent: int, expires: float,
                 source: ReplaySource) -> None:
        self.data = data
        self.date = date
        self.date_at = date_at
        self.labels = labels
        self.sent = sent
        self.expires = expires
        self.source = source
        """What the answer came from (a file's version, a response-cache entry): it says whether it stands."""


class FileVersion:
    """A file as `stat` found it before it was read (`ReplaySource`): it stands while a `stat` finds the same."""

    __slots__ = ("path", "signature", "_signature")

    def __init__(self, path: str, st: os.stat_result, signature: Callable[[os.stat_result], Signature]) -> None:
        self.path = path
        self._signature = signature
        self.signature = signature(st)

    def current(self) -> bool:
        try:
            return self._signature(os.stat(self.path)) == self.signature
        except OSError:
            return False  # gone

    def hit(self) -> None:
        return


class ReplayCache:
    """The kept answers of one server's HTTP/1.1 connections (cleared when its configuration is reloaded)."""

    def __init__(self) -> None:
        # Where a server runs, its app has loaded the static files' package; the control commands that import
        # the server layer (`dynlan reload`, `dynlan cache purge`) do not need it.
        from dynlan.static._filecache import FileCache  # noqa: PLC0415

        self._signature = FileCache.signature
        self._kept: dict[Key, Kept] = {}
        self._bytes = 0
        self.hits = 0
        """Requests answered with kept bytes (the control socket's `stats`)."""

    @staticmethod
    def key(event: RequestReceived, scheme: str) -> Key | None:
        """The key of a request that may be answered with kept bytes; None when it takes the full path."""
        if event.method != "GET" or event.http_version != "1.1":
            return None
        host = coding = None
        for name, value in event.headers:
            if name == "host":
                if host is not None:
                    return None
                host = value
            elif name == "accept-encoding":
                if coding is not None:
                    return None
                coding = value
            elif name == "connection":
                if value.lower() != "keep-alive":
                    return None
            elif name not in PLAIN_FIELDS:
                return None
        return (scheme, event.target, host or "", coding or "")

    def get(self, key: Key) -> Kept | None:
        """The kept answer, its bytes with today's `Date`, when what it came from is still what it was; None
        otherwise."""
        kept = self._kept.get(key)
        if kept is None:
            return None
        if time.monotonic() > kept.expires or not kept.source.current():
            self._drop(key, kept)
            return None
        date = DATE.get()
        if date != kept.date:
            # The date is a field of the head: the same length every second (RFC 9110 §5.6.7's IMF-fixdate).
            at = kept.date_at
            kept.data = kept.data[:at] + date.encode("latin-1") + kept.data[at + len(kept.date):]
            kept.date = date
        return kept

    def used(self, kept: Kept) -> None:
        """A request was answered with `kept`: counted here, and by its source as the full path would count it."""
        self.hits += 1
        kept.source.hit()

    def file(self, path: str, st: os.stat_result) -> FileVersion:
        """The source of an answer made from the file at `path`, as `st` found it."""
        return FileVersion(path, st, self._signature)

    def keep(self, key: Key, data: bytes, labels: tuple[str, str, str], sent: int, source: ReplaySource,
             until: float = math.inf) -> None:
        """Keep a complete 200 answer (head and body, framed by its `content-length`) made for `key` from `source`
        (a file's version: `file`), for no later than `until` (a `time.monotonic()`)."""
        if sent > MAX_BODY or sent == 0:
            return
        end = data.find(b"\r\n\r\n")
        head = data[:end + 2].lower()
        if end < 0 or b"\r\nconnection:" in head or b"\r\ntransfer-encoding:" in head \
                or b"\r\ncontent-length:" not in head or b"\r\nset-cookie:" in head:
            return
        date = DATE.get()
        marker = b"\r\ndate: " + date.encode("latin-1") + b"\r\n"
        at = data.find(marker, 0, end + 2)
        if at < 0:
            return  # made in another second than this one: kept by the next request
        old = self._kept.pop(key, None)
        if old is not None:
            self._bytes -= len(old.data)
        if self._bytes + len(data) > BUDGET or len(self._kept) >= MAX_ENTRIES:
            self.clear()
        self._kept[key] = Kept(data, date, at + 8, labels, sent, min(time.monotonic() + RECHECK, until), source)
        self._bytes += len(data)

    def _drop(self, key: Key, kept: Kept) -> None:
        if self._kept.pop(key, None) is not None:
            self._bytes -= len(kept.data)

    def clear(self) -> None:
        self._kept.clear()
        self._bytes = 0
