"""Serving static files: resolving, caching, compressing and sending them.

`StaticFiles` holds the caches every site's static files share in one worker:
resolutions (a second's reuse keeps realpath's lstat per segment off the hot
path), file contents (small files, checked against the file's identity on
each request), compressed variants (built once per file version), and the
head of a plain 200 answer per file version: a request without preconditions
or a range (most of them) costs one `stat` and a dictionary lookup, not a plan.

What can block for long runs in a worker thread: reading a file larger than
`READ_IN_THREAD`, compressing more than `COMPRESS_IN_THREAD` bytes, and
streaming large files (the exchange's `send_file`). Small files, and anything
in the caches, are answered on the event loop: a thread hop costs more than
the read.
"""

from __future__ import annotations

import os
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping

import trio

from dynlan import compression
from dynlan.config import CompressionConfig, StaticConfig
from dynlan.http import Exchange, HttpError
from dynlan.static._filecache import FileCache
from dynlan.static._http import mime_type
from dynlan.static._listing import render_listing
from dynlan.static._plan import FileSlice, Plan, plan
from dynlan.static._resolve import Resolved, resolve

SMALL_FILE = 256 * 1024
"""Files up to this size are sent in one write; larger ones stream."""
CHUNK = 256 * 1024
READ_IN_THREAD = 64 * 1024
"""Files larger than this are read in a worker thread."""
COMPRESS_IN_THREAD = 32 * 1024
"""Inputs larger than this are compressed in a worker thread (brotli takes about 1 ms per 64 KiB)."""
VARIANT_BUDGET = 64 * 1024 * 1024
RESOLVE_TTL = 1.0
RESOLVE_ENTRIES = 10000
HEAD_ENTRIES = 10000
"""Prepared heads kept (one per file, coding and Vary); past this the table starts again."""
NEGOTIATED_ENTRIES = 1024

_PLAN_FIELDS = frozenset({"if-match", "if-none-match", "if-modified-since", "if-unmodified-since", "range", "if-range"})
"""Request fields that can make the answer other than the file's plain 200 (RFC 9110 §13.1, §14.2)."""

ALLOW = "GET, HEAD, OPTIONS"


def _join(data: bytes, body: list[bytes | FileSlice]) -> bytes:
    return b"".join(data[p.offset : p.offset + p.length] if isinstance(p, FileSlice) else p for p in body)


def _plain(headers: Iterable[tuple[str, str]]) -> bool:
    """Whether the request asks for the whole representation, unconditionally (its answer is the plain 200)."""
    return not any(name in _PLAN_FIELDS for name, _ in headers)


class StaticFiles:
    """Static files of every site in this worker, and their caches."""

    def __init__(self) -> None:
        self.file_cache = FileCache()
        self.generation = 0
        """Counts `forget()` calls: what was decided from a resolution holds while this stays the same."""
        # (root, raw path, symlinks policy) -> (expiry, resolution).
        self._resolved: dict[tuple[str, str, str], tuple[float, Resolved]] = {}
        # fs path -> (expiry, {coding: sibling path}): the precompressed siblings beside a file.
        self._siblings: dict[str, tuple[float, dict[str, str]]] = {}
        # Compressed variants by (path, coding), checked against the file's identity.
        self._variants: OrderedDict[tuple[str, str], tuple[tuple[int, int, int], bytes]] = OrderedDict()
        self._variant_bytes = 0
        self._building: dict[tuple[str, str], trio.Event] = {}
        # (path sent, path it represents, coding, vary) -> (file signature, headers of the plain 200).
        self._heads: dict[tuple[str, str, str | None, bool], tuple[tuple[int, int, int], list[tuple[str, str]]]] = {}
        self._compressible_paths: dict[str, bool] = {}
        # (Accept-Encoding, codings offered) -> the coding chosen: browsers send a handful of distinct values.
        self._negotiated: dict[tuple[str, tuple[str, ...]], str | None] = {}

    # -- resolving -------------------------------------------------------------------

    def resolve(self, root: str, raw_path: str, cfg: StaticConfig) -> Resolved:
        """The file, folder or redirect a URL path names in the site at `root` (StaticError for bad paths)."""
        key = (root, raw_path, cfg.symlinks)
        now = time.monotonic()
        cached = self._resolved.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        resolved = resolve(
            root, raw_path,
            index_names=cfg.index_names,
            clean_url_suffixes=(".html",) if cfg.clean_urls else (),
            listing=cfg.listing,
            symlinks=cfg.symlinks,
        )
        if len(self._resolved) >= RESOLVE_ENTRIES:
            self._resolved.clear()
        self._resolved[key] = (now + RESOLVE_TTL, resolved)
        return resolved

    def forget(self) -> None:
        """Drop cached resolutions (a file went away under one)."""
        self._resolved.clear()
        self._siblings.clear()
        self.generation += 1

    # -- answering -------------------------------------------------------------------

    async def serve(self, exchange: Exchange, resolved: Resolved, compress: CompressionConfig | None, *,
                    keep: bool = False) -> None:
        """Answer a GET or HEAD for a resolved file, folder listing or folder redirect. `keep`: a plain 200 of the
        file may be kept and written again (`Exchange.allow_replay`), with the file's `stat` made before it was read."""
        request = exchange.request
        if resolved.kind == "redirect":
            # The URL the client asked for, with a slash (not a path a rule rewrote it to).
            location = request.path + "/"
            if request.query_string:
                location += "?" + request.query_string
            await exchange.respond(301, [("location", location), ("content-length", "0")], b"")
        elif resolved.kind == "listing":
            body = await trio.to_thread.run_sync(render_listing, resolved.url_path, resolved.fs_path)
            await exchange.respond(200, [("content-type", "text/html; charset=utf-8"),
                                         ("content-length", str(len(body)))], body)
        elif resolved.kind == "file":
            await self.send_file(exchange, resolved.fs_path, compress, keep=keep)
        else:
            raise HttpError(404, f"{request.path} not found")

    async def send_file(self, exchange: Exchange, fs_path: str, compress: CompressionConfig | None = None, *,
                        keep: bool = False) -> None:
        """Send a file: a precompressed sibling, a compressed variant, or the file itself, as negotiated."""
        request = exchange.request
        try:
            st = os.stat(fs_path)
        except OSError:
            self.forget()
            raise HttpError(404, f"{request.path} not found") from None
        vary = False
        if compress is not None and compress.enabled and self._compressible(fs_path):
            vary = True
            accept = request.headers.get("accept-encoding")
            if accept:
                coding, sibling = self._choose_coding(compress, accept, fs_path, st)
                if coding is not None and sibling is None:
                    data = await self._variant(fs_path, st, coding)
                    if _plain(request.headers):
                        head = self._plain_head(fs_path, fs_path, st, coding, True, len(data))
                        if keep:
                            exchange.allow_replay(fs_path, st)
                        await exchange.respond(200, head, data if request.method == "GET" else b"")
                        return
                    p = plan(request.method, request.headers.as_dict(), fs_path, st, coding=coding, size=len(data))
                    headers = list(p.headers)
                    compression.add_vary(headers)
                    await exchange.respond(p.status, headers, _join(data, p.body))
                    return
                if coding is not None and sibling is not None:
                    try:
                        sibling_st = os.stat(sibling)
                    except OSError:
                        self.forget()
                    else:
                        await self._send_path(exchange, sibling, sibling_st, content_path=fs_path,
                                              coding=coding, vary=True, keep=(fs_path, st) if keep else None)
                        return
        await self._send_path(exchange, fs_path, st, vary=vary, keep=(fs_path, st) if keep else None)

    def _compressible(self, fs_path: str) -> bool:
        """Whether the file's type is worth compressing (by its name, so remembered per path)."""
        known = self._compressible_paths.get(fs_path)
        if known is None:
            known = compression.compressible(mime_type(fs_path))
            if len(self._compressible_paths) >= HEAD_ENTRIES:
                self._compressible_paths.clear()
            self._compressible_paths[fs_path] = known
        return known

    def _choose_coding(
        self, cfg: CompressionConfig, accept: str, fs_path: str, st: os.stat_result,
    ) -> tuple[str | None, str | None]:
        """(coding, sibling path): a precompressed sibling, on-the-fly, or identity (None)."""
        siblings = self._sibling_files(fs_path) if cfg.precompressed else {}
        offered = list(siblings)
        if cfg.min_size <= st.st_size <= cfg.max_size:
            offered += [c for c in compression.available_codings() if c not in siblings]
        offered.sort(key=compression.SERVER_PREFERENCE.index)
        key = (accept, tuple(offered))
        if key in self._negotiated:
            chosen = self._negotiated[key]
        else:
            chosen = compression.negotiate(accept, offered)
            if len(self._negotiated) >= NEGOTIATED_ENTRIES:
                self._negotiated.clear()
            self._negotiated[key] = chosen
        return chosen, siblings.get(chosen) if chosen else None

    def _sibling_files(self, fs_path: str) -> dict[str, str]:
        now = time.monotonic()
        cached = self._siblings.get(fs_path)
        if cached is not None and cached[0] > now:
            return cached[1]
        found = {}
        for coding, suffix in compression.SIBLING_SUFFIX.items():
            if os.path.isfile(fs_path + suffix):
                found[coding] = fs_path + suffix
        if len(self._siblings) >= RESOLVE_ENTRIES:
            self._siblings.clear()
        self._siblings[fs_path] = (now + RESOLVE_TTL, found)
        return found

    async def _variant(self, fs_path: str, st: os.stat_result, coding: str) -> bytes:
        """The file compressed with `coding`, built once per file version (concurrent requests wait for it)."""
        key = (fs_path, coding)
        signature = FileCache.signature(st)
        while True:
            cached = self._variants.get(key)
            if cached is not None and cached[0] == signature:
                self._variants.move_to_end(key)
                return cached[1]
            building = self._building.get(key)
            if building is None:
                break
            await building.wait()
        self._building[key] = done = trio.Event()
        try:
            if st.st_size > COMPRESS_IN_THREAD:
                data = await trio.to_thread.run_sync(_read_and_compress, fs_path, coding)
            else:
                data = _read_and_compress(fs_path, coding)
        except OSError:
            self.forget()
            raise HttpError(404, "file not found") from None
        finally:
            del self._building[key]
            done.set()
        self._variants[key] = (signature, data)
        self._variant_bytes += len(data)
        while self._variant_bytes > VARIANT_BUDGET and self._variants:
            _, (_, dropped) = self._variants.popitem(last=False)
            self._variant_bytes -= len(dropped)
        return data

    async def _send_path(
        self, exchange: Exchange, fs_path: str, st: os.stat_result, *,
        content_path: str | None = None, coding: str | None = None, vary: bool = False,
        keep: tuple[str, os.stat_result] | None = None,
    ) -> None:
        """Send a file from the file cache or from disk; `content_path` names what it represents. `keep`: the
        requested file and its `stat`, when a plain 200 may be kept (`Exchange.allow_replay`)."""
        request = exchange.request
        cached = self.file_cache.get(fs_path, st)
        if cached is not None and _plain(request.headers):
            head = self._plain_head(fs_path, content_path or fs_path, st, coding, vary, st.st_size)
            if keep is not None:
                exchange.allow_replay(*keep)
            await exchange.respond(200, head, cached if request.method == "GET" else b"")
            return
        make_plan = _planner(request.method, request.headers.as_dict(), content_path or fs_path, coding, vary)
        if cached is not None:
            p = make_plan(st)
            await exchange.respond(p.status, p.headers, _join(cached, p.body))
            return
        try:
            fd = os.open(fs_path, os.O_RDONLY)
        except OSError:
            self.forget()
            raise HttpError(404, f"{request.path} not found") from None
        try:
            st = os.fstat(fd)
            if st.st_size <= self.file_cache.max_file:
                data = await _pread(fd, st.st_size, 0)
                self.file_cache.put(fs_path, st, data)
                p = make_plan(st)
                await exchange.respond(p.status, p.headers, _join(data, p.body))
                return
            p = make_plan(st)
            total = sum(x.length if isinstance(x, FileSlice) else len(x) for x in p.body)
            if total <= SMALL_FILE or request.method == "HEAD":
                chunks = [await _pread(fd, x.length, x.offset) if isinstance(x, FileSlice) else x for x in p.body]
                await exchange.respond(p.status, p.headers, b"".join(chunks))
                return
            await exchange.send_head(p.status, p.headers)
            # Every server exchange can send from a file (sendfile(2) on plain HTTP/1.1);
            # one that cannot gets the bytes read here.
            send_file = getattr(exchange, "send_file", None)
            for piece in p.body:
                if not isinstance(piece, FileSlice):
                    await exchange.send_body(piece)
                elif send_file is not None:
                    await send_file(fd, piece.offset, piece.length)
                else:
                    offset, remaining = piece.offset, piece.length
                    while remaining > 0:
                        data = await trio.to_thread.run_sync(os.pread, fd, min(CHUNK, remaining), offset)
                        if not data:
                            raise OSError(f"{fs_path} shrank while being sent")
                        await exchange.send_body(data)
                        offset += len(data)
                        remaining -= len(data)
            await exchange.finish()
        finally:
            os.close(fd)

    def _plain_head(
        self, fs_path: str, shown: str, st: os.stat_result, coding: str | None, vary: bool, size: int,
    ) -> list[tuple[str, str]]:
        """The head of the plain 200 for this version of the file (planned once per version, then copied).

        `size` is the length of what is sent (the variant's for a coding made here); the file's
        signature says the version, and the variant is rebuilt whenever the signature changes.
        """
        key = (fs_path, shown, coding, vary)
        signature = FileCache.signature(st)
        cached = self._heads.get(key)
        if cached is not None and cached[0] == signature:
            return list(cached[1])
        headers = plan("GET", {}, shown, st, coding=coding, size=size).headers
        if vary:
            compression.add_vary(headers)
        if len(self._heads) >= HEAD_ENTRIES:
            self._heads.clear()
        self._heads[key] = (signature, headers)
        return list(headers)

    def statistics(self) -> dict[str, int]:
        return {**self.file_cache.statistics(), "variants": len(self._variants), "variant_bytes": self._variant_bytes}


def _planner(
    method: str, headers: Mapping[str, str], shown: str, coding: str | None, vary: bool,
) -> Callable[[os.stat_result], Plan]:
    def make_plan(st: os.stat_result) -> Plan:
        p = plan(method, headers, shown, st, coding=coding, size=st.st_size)
        out = list(p.headers)
        if vary:
            compression.add_vary(out)
        return Plan(p.status, out, p.body)

    return make_plan


async def _pread(fd: int, length: int, offset: int) -> bytes:
    if length > READ_IN_THREAD:
        return await trio.to_thread.run_sync(os.pread, fd, length, offset)
    return os.pread(fd, length, offset)


def _read_and_compress(fs_path: str, coding: str) -> bytes:
    with open(fs_path, "rb") as f:
        return compression.compress(f.read(), coding)
