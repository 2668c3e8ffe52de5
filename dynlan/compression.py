"""Content codings the server applies: negotiation and compressors (gzip, brotli, zstd).

Negotiation follows RFC 9110 §12.5.3 (Accept-Encoding with q-values); among
codings the client rates equally, the server prefers the smaller output
(br, then zstd, then gzip). `brotli` and `zstandard` are optional: codings
whose library is missing are simply not offered.
"""

from __future__ import annotations

import gzip
import importlib
import zlib
from collections.abc import Sequence
from types import ModuleType


def _optional(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ImportError:  # pragma: no cover - optional dependency
        return None


brotli = _optional("brotli")
zstandard = _optional("zstandard")

SERVER_PREFERENCE = ("br", "zstd", "gzip")
SIBLING_SUFFIX = {"br": ".br", "zstd": ".zst", "gzip": ".gz"}

_COMPRESSIBLE_PREFIXES = ("text/",)
# Structured syntax suffixes (RFC 6839): every `+json` and `+xml` type is text (SVG, Atom, JSON-LD, ...).
_COMPRESSIBLE_SUFFIXES = ("+json", "+xml")
_COMPRESSIBLE_TYPES = frozenset({
    "application/javascript", "application/x-javascript", "application/ecmascript", "application/json",
    "application/xml", "application/wasm", "application/vnd.ms-fontobject", "application/x-font-ttf",
    "font/ttf", "font/otf", "image/x-icon", "image/vnd.microsoft.icon", "image/bmp",
})


def available_codings() -> tuple[str, ...]:
    return tuple(c for c in SERVER_PREFERENCE
                 if (c != "br" or brotli is not None) and (c != "zstd" or zstandard is not None))


def compressible(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return (media.startswith(_COMPRESSIBLE_PREFIXES) or media in _COMPRESSIBLE_TYPES
            or media.endswith(_COMPRESSIBLE_SUFFIXES))


def parse_accept_encoding(value: str) -> dict[str, float]:
    """Coding -> q-value; malformed q-values count as 0 (not acceptable)."""
    out: dict[str, float] = {}
    for part in value.split(","):
        name, *params = (p.strip() for p in part.split(";"))
        if not name:
            continue
        q = 1.0
        for param in params:
            key, _, raw = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(raw)
                except ValueError:
                    q = 0.0
                q = min(max(q, 0.0), 1.0)
        out[name.lower()] = q
    return out


def negotiate(accept_encoding: str | None, offered: Sequence[str]) -> str | None:
    """The coding to use, or None for identity."""
    if not accept_encoding or not offered:
        return None
    prefs = parse_accept_encoding(accept_encoding)
    star = prefs.get("*")
    best: str | None = None
    best_q = 0.0
    for coding in offered:  # in server preference order
        q = prefs.get(coding, prefs.get("x-gzip") if coding == "gzip" else None)
        if q is None:
            q = star if star is not None else 0.0
        if q > best_q:
            best, best_q = coding, q
    if best is None:
        return None
    # Identity is acceptable by default but not ranked (RFC 9110 §12.5.3); only an
    # explicit, higher `identity` rating beats a coding the client accepts.
    identity = prefs.get("identity")
    return best if identity is None or best_q >= identity else None


def compress(data: bytes, coding: str) -> bytes:
    if coding == "gzip":
        return gzip.compress(data, compresslevel=6, mtime=0)
    if coding == "br":
        assert brotli is not None
        return bytes(brotli.compress(data, quality=5))
    if coding == "zstd":
        assert zstandard is not None
        return bytes(zstandard.ZstdCompressor(level=3).compress(data))
    raise ValueError(f"unknown coding {coding!r}")


def decompress(data: bytes, coding: str) -> bytes:
    """For tests and tools: the inverse of `compress`."""
    if coding == "gzip":
        return zlib.decompress(data, 16 + zlib.MAX_WBITS)
    if coding == "br":
        assert brotli is not None
        return bytes(brotli.decompress(data))
    if coding == "zstd":
        assert zstandard is not None
        return bytes(zstandard.ZstdDecompressor().decompress(data, max_output_size=1 << 30))
    raise ValueError(f"unknown coding {coding!r}")


def add_vary(headers: list[tuple[str, str]], field: str = "Accept-Encoding") -> None:
    for i, (name, value) in enumerate(headers):
        if name == "vary":
            if field.lower() not in value.lower():
                headers[i] = (name, f"{value}, {field}")
            return
    headers.append(("vary", field))
