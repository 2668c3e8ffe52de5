"""The request target sent upstream: the path as the client wrote it when that is safe, with the rule's prefix
cut off when `strip_prefix` asks.

Rules match the canonical path (decoded, `.`/`..`/`//` resolved). When the path as written decodes to exactly
that, it goes upstream as written (percent-escapes the upstream may care about, as `%2F` in an id, are kept).
When it does not (`/api/./x`, `/api//x`), the canonical path goes, encoded again: the upstream must see the path
the rules checked, never one it would resolve differently (path confusion between proxy and backend).
"""

from __future__ import annotations

from urllib.parse import quote, unquote

_SAFE = "/-._~!$&'()*+,;=:@"


def upstream_target(path: str, canonical: str, prefix: str | None, strip: bool, query: str) -> str:
    """`path` (as written) and `canonical` (what the rule matched) to the target sent upstream.

    `prefix` is the matching rule's canonical prefix (`/api` for `/api/*`, "" for `/*`), None for an exact rule.
    """
    written = path if unquote(path) == canonical else quote(canonical, safe=_SAFE)
    if strip:
        written = "/" if prefix is None else _cut(written, prefix) or "/"
    return written + ("?" + query if query else "")


def _cut(written: str, prefix: str) -> str:
    """`written` without the part that decodes to `prefix` (cut at a '/' or the end)."""
    if not prefix:
        return written
    at = 0
    while True:
        at = written.find("/", at + 1)
        end = len(written) if at < 0 else at
        if unquote(written[:end]) == prefix:
            return written[end:]
        if at < 0:
            return quote(unquote(written)[len(prefix):], safe=_SAFE)
