"""The access log: one line per request, written in batches; and the request metrics, counted in the same place."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import TextIO

import trio

from dynlan.http import HttpRequest
from dynlan.observability._metrics import LABELS, NO_ROUTE, RequestMetrics

log = logging.getLogger("dynlan")

FLUSH_BYTES = 32 * 1024
FLUSH_SECONDS = 0.25

TIME_FORMAT = "%Y-%m-%dT%H:%M:%S%z"
"""The one timestamp format of the access log and the application log (ISO 8601, local time with its offset)."""

FORMATS = ("dynlan", "common", "combined", "json")


def _quoted(value: str) -> str:
    """A value between double quotes in a common/combined line: its quotes, backslashes and control characters
    escaped (a client's User-Agent must not forge a field or a line)."""
    if value.isprintable() and '"' not in value and "\\" not in value:
        return value
    out = []
    for ch in value:
        if ch in '"\\':
            out.append("\\" + ch)
        elif not ch.isprintable():
            out.append(f"\\x{ord(ch) & 0xFF:02x}")
        else:
            out.append(ch)
    return "".join(out)


class AccessLog:
    """Writes one line per request, in the `[log] access_format` (docs/operations.md):

    - `dynlan`: `time client "method target version" status bytes duration id`
    - `common`: `client - - [time] "method target version" status bytes`
    - `combined`: `common` and `"referer" "user-agent"`
    - `json`: one object per line, with the request id, duration, site, route and runtime too

    Lines are gathered and written together (at 32 KiB, or a quarter of a second after the last write, or by
    `run_flusher`), so logging costs one write per batch instead of one per request. To stderr, or appended to
    `access_file`, which `reopen()` opens again (after logrotate moved it).

    `metrics`, when set (an admin listener is configured), counts every request logged here, whether or not
    lines are written.
    """

    def __init__(
        self, stream: TextIO | None = None, enabled: bool = True, *, fmt: str = "dynlan", path: str = "",
        metrics: RequestMetrics | None = None,
    ) -> None:
        self.path = path
        self._stream = stream if stream is not None else sys.stderr
        if path:
            self._stream = self._open(path) or self._stream
        self.enabled = enabled
        self.format = fmt
        self.metrics = metrics
        self._lines: list[str] = []
        self._size = 0
        self._last_flush = time.monotonic()
        self._stamp_second = -1
        self._stamp = ""

    @staticmethod
    def _open(path: str) -> TextIO | None:
        try:
            return open(path, "a", encoding="utf-8", errors="backslashreplace")  # noqa: SIM115 - kept open
        except OSError as exc:
            log.error("access log: cannot open %s (%s); writing to stderr", path, exc.strerror)
            return None

    def reopen(self) -> None:
        """Open `access_file` again: logrotate moved the old one away (SIGUSR1)."""
        self.flush()
        if not self.path:
            return
        stream = self._open(self.path)
        if stream is None:
            return
        old, self._stream = self._stream, stream
        if old is not sys.stderr:
            old.close()

    def log(self, request: HttpRequest, status: int, sent: int, started: float) -> None:
        labels = LABELS.get()
        if labels is not NO_ROUTE:
            # The next request of this connection starts without a site.
            LABELS.set(NO_ROUTE)
        seconds = time.perf_counter() - started
        metrics = self.metrics
        if metrics is not None:
            metrics.record(labels, request.http_version, status, sent, seconds)
        if not self.enabled:
            return
        duration_ms = seconds * 1000.0
        client = request.client[0] if request.client else "-"
        second = int(time.time())
        if second != self._stamp_second:
            self._stamp_second = second
            self._stamp = time.strftime(TIME_FORMAT, time.localtime(second))
        # The query string stays: it is part of what was asked for (as in the common log format).
        target = f"{request.path}?{request.query_string}" if request.query_string else request.path
        fmt = self.format
        if fmt == "dynlan":
            line = (f'{self._stamp} {client} "{request.method} {_quoted(target)} HTTP/{request.http_version}" '
                    f"{status} {sent} {duration_ms:.2f}ms {request.request_id}\n")
        elif fmt == "json":
            line = json.dumps({
                "time": self._stamp, "client": client, "method": request.method, "target": target,
                "protocol": f"HTTP/{request.http_version}", "host": request.host, "status": status, "bytes": sent,
                "duration_ms": round(duration_ms, 3), "request_id": request.request_id,
                "referer": request.headers.get("referer"), "user_agent": request.headers.get("user-agent"),
                "site": labels[0], "route": labels[1], "runtime": labels[2],
            }, ensure_ascii=False) + "\n"
        else:
            line = (f'{client} - - [{self._stamp}] "{request.method} {_quoted(target)} HTTP/{request.http_version}" '
                    f"{status} {sent if sent else '-'}")
            if fmt == "combined":
                referer = request.headers.get("referer") or "-"
                agent = request.headers.get("user-agent") or "-"
                line += f' "{_quoted(referer)}" "{_quoted(agent)}"'
            line += "\n"
        self._lines.append(line)
        self._size += len(line)
        if self._size >= FLUSH_BYTES or time.monotonic() - self._last_flush >= FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        self._last_flush = time.monotonic()
        if not self._lines:
            return
        data = "".join(self._lines)
        self._lines.clear()
        self._size = 0
        try:
            self._stream.write(data)
            self._stream.flush()
        except (OSError, ValueError):
            pass  # a closed or full log must not take requests down

    async def run_flusher(self) -> None:
        """Write what a quiet period left behind; runs for the server's life."""
        try:
            while True:
                await trio.sleep(FLUSH_SECONDS)
                if self._lines and time.monotonic() - self._last_flush >= FLUSH_SECONDS:
                    self.flush()
        finally:
            self.flush()
