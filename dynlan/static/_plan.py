"""What to answer for a static file: status, headers and the byte ranges to send."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from dynlan.static._http import http_date, make_etag, mime_type, parse_http_date
from dynlan.static._ranges import Unsatisfiable, parse_range


@dataclass(frozen=True, slots=True)
class FileSlice:
    """`length` bytes of the file from `offset`, streamed by the server."""

    offset: int
    length: int


@dataclass(frozen=True, slots=True)
class Plan:
    status: int
    headers: list[tuple[str, str]]
    body: list[bytes | FileSlice]


def _etag_list(value: str) -> list[str]:
    return [t.strip() for t in value.split(",") if t.strip()]


def _weak_match(a: str, b: str) -> bool:
    return a.removeprefix("W/") == b.removeprefix("W/")


def etag_none_match(header: str, etag: str) -> bool:
    """If-None-Match uses the weak comparison (RFC 9110 §13.1.2)."""
    tags = _etag_list(header)
    return "*" in tags or any(_weak_match(t, etag) for t in tags)


def _match(header: str, etag: str) -> bool:
    """If-Match uses the strong comparison (RFC 9110 §13.1.1)."""
    tags = _etag_list(header)
    return "*" in tags or any(t == etag and not t.startswith("W/") for t in tags)


def _not_modified_since(header: str, mtime: int) -> bool:
    since = parse_http_date(header)
    return since is not None and mtime <= since


def plan(
    method: str,
    headers: Mapping[str, str],
    fs_path: str,
    st: os.stat_result,
    *,
    coding: str | None = None,
    size: int | None = None,
) -> Plan:
    """The response for GET/HEAD of a file, after preconditions and ranges.

    With `coding`, the representation is the file encoded that way (`size`
    bytes): it gets its own ETag (RFC 9110 §8.8.3: validators differ per
    representation) and ranges count bytes of the encoded form (§14.1).
    """
    if method not in ("GET", "HEAD"):
        return Plan(405, [("allow", "GET, HEAD, OPTIONS"), ("content-length", "0")], [])
    size = st.st_size if size is None else size
    mtime = int(st.st_mtime)
    etag = make_etag(st)
    if coding is not None:
        etag = etag[:-1] + f'-{coding}"'

    validators = [("etag", etag), ("last-modified", http_date(mtime))]

    # Preconditions, in the order of RFC 9110 §13.2.2.
    if_match = headers.get("if-match")
    if if_match is not None:
        if not _match(if_match, etag):
            return Plan(412, [*validators, ("content-length", "0")], [])
    else:
        ius = headers.get("if-unmodified-since")
        if ius is not None and parse_http_date(ius) is not None and not _not_modified_since(ius, mtime):
            return Plan(412, [*validators, ("content-length", "0")], [])
    inm = headers.get("if-none-match")
    if inm is not None:
        if etag_none_match(inm, etag):
            return Plan(304, validators, [])
    else:
        ims = headers.get("if-modified-since")
        if ims is not None and _not_modified_since(ims, mtime):
            return Plan(304, validators, [])

    ctype = mime_type(fs_path)
    base = [("content-type", ctype), ("accept-ranges", "bytes"), *validators]
    if coding is not None:
        base.append(("content-encoding", coding))
    full = Plan(200, [*base, ("content-length", str(size))], [FileSlice(0, size)] if size and method == "GET" else [])
    range_header = headers.get("range")
    if range_header is None or method != "GET":
        return full
    if_range = headers.get("if-range")
    if if_range is not None:
        # RFC 9110 §13.1.5: an entity tag must match strongly; a date exactly.
        if if_range.startswith(('"', "W/")):
            if if_range != etag:
                return full
        else:
            when = parse_http_date(if_range)
            if when is None or int(when) != mtime:
                return full
    try:
        ranges = parse_range(range_header, size)
    except Unsatisfiable:
        body = f"range not satisfiable for {size} bytes\n".encode()
        return Plan(416, [("content-range", f"bytes */{size}"), ("content-type", "text/plain; charset=utf-8"),
                          ("content-length", str(len(body)))], [body])
    if ranges is None:
        return full
    if len(ranges) > 1 and coding is not None:
        return full  # several ranges of an encoded representation: send it whole
    if len(ranges) == 1:
        start, end = ranges[0]
        return Plan(206, [*base, ("content-range", f"bytes {start}-{end}/{size}"),
                          ("content-length", str(end - start + 1))], [FileSlice(start, end - start + 1)])
    boundary = etag.strip('"').replace("-", "")[:24] + "b0undary"
    pieces: list[bytes | FileSlice] = []
    total = 0
    for i, (start, end) in enumerate(ranges):
        head = (f"{'' if i == 0 else chr(13) + chr(10)}--{boundary}\r\ncontent-type: {ctype}\r\n"
                f"content-range: bytes {start}-{end}/{size}\r\n\r\n").encode()
        pieces += [head, FileSlice(start, end - start + 1)]
        total += len(head) + end - start + 1
    tail = f"\r\n--{boundary}--\r\n".encode()
    pieces.append(tail)
    total += len(tail)
    headers_out = [("content-type", f"multipart/byteranges; boundary={boundary}"), ("accept-ranges", "bytes"),
                   *validators, ("content-length", str(total))]
    return Plan(206, headers_out, pieces)
