"""Static files: safe path resolution, the response plan (sans-I/O), and `StaticFiles`, which serves them."""

from __future__ import annotations

from dynlan.static._filecache import FileCache
from dynlan.static._handler import ALLOW, RESOLVE_ENTRIES, RESOLVE_TTL, StaticFiles
from dynlan.static._http import http_date, make_etag, mime_type, parse_http_date
from dynlan.static._listing import render_listing
from dynlan.static._plan import FileSlice, Plan, etag_none_match, plan
from dynlan.static._ranges import MAX_RANGES, Unsatisfiable, parse_range
from dynlan.static._resolve import (
    SYMLINK_POLICIES,
    Resolved,
    StaticError,
    decode_path,
    link_refusal,
    resolve,
)

__all__ = [
    "ALLOW",
    "MAX_RANGES",
    "RESOLVE_ENTRIES",
    "RESOLVE_TTL",
    "SYMLINK_POLICIES",
    "FileCache",
    "FileSlice",
    "Plan",
    "Resolved",
    "StaticError",
    "StaticFiles",
    "Unsatisfiable",
    "decode_path",
    "etag_none_match",
    "http_date",
    "link_refusal",
    "make_etag",
    "mime_type",
    "parse_http_date",
    "parse_range",
    "plan",
    "render_listing",
    "resolve",
]
