"""The access log: one line per request."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from dynlan.http import HttpRequest


class AccessLog:
    """Writes `time client "method path version" status bytes duration id` lines."""

    def __init__(self, stream: TextIO | None = None, enabled: bool = True) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self.enabled = enabled

    def log(self, request: HttpRequest, status: int, sent: int, started: float) -> None:
        if not self.enabled:
            return
        duration_ms = (time.perf_counter() - started) * 1000.0
        client = request.client[0] if request.client else "-"
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        self._stream.write(
            f'{stamp} {client} "{request.method} {request.path} HTTP/{request.http_version}" '
            f"{status} {sent} {duration_ms:.2f}ms {request.request_id}\n"
        )
