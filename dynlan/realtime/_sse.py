"""Server-sent events (HTML Living Standard §9.2): the `text/event-stream` framing, sans-I/O."""

from __future__ import annotations

import re
from typing import Any

HEADERS = [
    ("content-type", "text/event-stream; charset=utf-8"),
    # Never stored, and never held back by a proxy in front (nginx buffers a response unless told so).
    ("cache-control", "no-store"),
    ("x-accel-buffering", "no"),
]
_LINES = re.compile(r"\r\n|\r|\n")


def _field(name: str, value: Any) -> str:
    text = value if isinstance(value, str) else str(value)
    if _LINES.search(text) or "\0" in text:
        # A line break would end the field early and start another (event injection).
        raise ValueError(f"an event's {name} is one line")
    return text


def format_event(*, data: Any = None, event: Any = None, id: Any = None, retry: Any = None) -> bytes:
    """One event: each line of `data` its own `data:` line (§9.2.6), so a multi-line message stays one event."""
    out: list[str] = []
    if event is not None:
        out.append(f"event: {_field('event', event)}\n")
    if id is not None:
        out.append(f"id: {_field('id', id)}\n")
    if retry is not None:
        if isinstance(retry, bool) or not isinstance(retry, int | float) or retry < 0:
            raise ValueError("an event's retry is a number of milliseconds")
        out.append(f"retry: {int(retry)}\n")
    if data is not None:
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data if isinstance(data, str) else str(data)
        out.extend(f"data: {line}\n" for line in _LINES.split(text))
    if not out:
        raise ValueError("an event has data, event, id or retry")
    out.append("\n")
    return "".join(out).encode()


def format_comment(text: str = "") -> bytes:
    """A comment line: ignored by the client, it keeps the connection (and the proxies on its way) alive."""
    return "".join(f":{' ' if line else ''}{line}\n" for line in _LINES.split(text)).encode() + b"\n"
