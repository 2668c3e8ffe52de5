"""Static files: safe path resolution and the response plan (sans-I/O; the app streams it)."""

from __future__ import annotations

from dynlan.static._filecache import FileCache
from dynlan.static._http import http_date, make_etag, mime_type, parse_http_date
from dynlan.static._listing import render_listing
from dynlan.static._plan import FileSlice, Plan, etag_none_match, plan
from dynlan.static._ranges import MAX_RANGES, Unsatisfiable, parse_range
from dynlan.static._resolve import Resolved, StaticError, decode_path, resolve

__all__ = [
    "MAX_RANGES",
    "FileCache",
    "FileSlice",
    "Plan",
    "Resolved",
    "StaticError",
    "Unsatisfiable",
    "decode_path",
    "etag_none_match",
    "http_date",
    "make_etag",
    "mime_type",
    "parse_http_date",
    "parse_range",
    "plan",
    "render_listing",
    "resolve",
]
