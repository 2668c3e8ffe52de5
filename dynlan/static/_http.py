"""Dates, MIME types and entity tags for static files."""

from __future__ import annotations

import email.utils
import functools
import mimetypes
import os

_TEXTUAL = ("application/javascript", "application/json", "application/xml", "image/svg+xml",
            "application/manifest+json", "text/javascript")

_mime = mimetypes.MimeTypes()
_mime.add_type("text/javascript", ".mjs")
_mime.add_type("application/wasm", ".wasm")
_mime.add_type("application/manifest+json", ".webmanifest")
_mime.add_type("font/woff2", ".woff2")
_mime.add_type("image/avif", ".avif")
_mime.add_type("text/markdown", ".md")


def mime_type(path: str) -> str:
    """The Content-Type for a file name; text types get `charset=utf-8`."""
    return _mime_for_name(os.path.basename(path).lower())


@functools.lru_cache(maxsize=1024)
def _mime_for_name(name: str) -> str:
    # By file name, not path: the answer depends only on the suffixes (`.tar.gz`).
    ctype, encoding = _mime.guess_type(name, strict=False)
    if ctype is None or encoding is not None:
        return "application/octet-stream"
    if ctype.startswith("text/") or ctype in _TEXTUAL:
        return f"{ctype}; charset=utf-8"
    return ctype


def http_date(ts: float) -> str:
    """An IMF-fixdate (RFC 9110 §5.6.7)."""
    return _http_date(int(ts))


@functools.lru_cache(maxsize=4096)
def _http_date(seconds: int) -> str:
    # Files' modification times repeat from request to request: each is formatted once.
    return email.utils.formatdate(seconds, usegmt=True)


def parse_http_date(value: str) -> float | None:
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed is None:
        return None
    return parsed.timestamp()


def make_etag(st: os.stat_result) -> str:
    """A strong validator from inode, size and mtime (changes whenever the file does)."""
    return f'"{st.st_ino:x}-{st.st_size:x}-{st.st_mtime_ns:x}"'
