"""The access log: one line per request, written in batches."""

from __future__ import annotations

import sys
import time
from typing import TextIO

import trio

from dynlan.http import HttpRequest

FLUSH_BYTES = 32 * 1024
FLUSH_SECONDS = 0.25


class AccessLog:
    """Writes `time client "method path version" status bytes duration id` lines.

    Lines are gathered and written together (at 32 KiB, or a quarter of a
    second after the last write, or by `run_flusher`), so logging costs one
    write per batch instead of one per request.
    """

    def __init__(self, stream: TextIO | None = None, enabled: bool = True) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self._lines: list[str] = []
        self._size = 0
        self._last_flush = time.monotonic()
        self._stamp_second = -1
        self._stamp = ""

    def log(self, request: HttpRequest, status: int, sent: int, started: float) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        duration_ms = (now - started) * 1000.0
        client = request.client[0] if request.client else "-"
        second = int(time.time())
        if second != self._stamp_second:
            self._stamp_second = second
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(second))
        # The query string stays: it is part of what was asked for (as in the common log format).
        target = f"{request.path}?{request.query_string}" if request.query_string else request.path
        line = (f'{self._stamp} {client} "{request.method} {target} HTTP/{request.http_version}" '
                f"{status} {sent} {duration_ms:.2f}ms {request.request_id}\n")
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
