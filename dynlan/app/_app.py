"""The app: picks the site, routes the request, and answers it."""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from typing import Any

import trio

from dynlan import compression, static
from dynlan.app._errors import error_body, format_exception
from dynlan.app._router import Match, Router
from dynlan.app._sites import Site
from dynlan.config import CacheConfig, Config, ConfigError
from dynlan.host import CacheBackend, Host, MemoryCache, PageContext, ResponseCache, run_page
from dynlan.http import Exchange, Headers, HttpError
from dynlan.runtimes import Registry, Runtime, RuntimeConfig
from dynlan.runtimes import registry as runtime_registry

log = logging.getLogger("dynlan")

# Files up to this size are read whole and sent in one write; larger ones stream.
SMALL_FILE = 256 * 1024
CHUNK = 256 * 1024
VARIANT_BUDGET = 64 * 1024 * 1024

ALLOW_STATIC = "GET, HEAD, OPTIONS"


def make_cache(cfg: CacheConfig) -> CacheBackend:
    if cfg.backend == "redis":
        from dynlan.host._redis import RedisCache

        return RedisCache(cfg.url, cfg.prefix)
    return MemoryCache(cfg.max_bytes)


class App:
    def __init__(self, config: Config, sites: dict[str, Site], default: Site) -> None:
        self.config = config
        self.sites = sites
        self.default = default
        self.dev = config.dev

        self.runtimes: dict[str, Runtime] = {}
        self._page_suffixes: frozenset[str] = frozenset()
        self._registry: Registry | None = None
        self.file_cache = static.FileCache()
        # (root, raw path) -> (expiry, resolution). Resolving costs a realpath
        # (an lstat per path segment); a second's reuse keeps that off the hot path.
        self._resolved: dict[tuple[str, str], tuple[float, static.Resolved]] = {}
        # Compressed variants of static files, by (path, coding), checked against the file's identity.
        self._variants: OrderedDict[tuple[str, str], tuple[tuple[int, int, int], bytes]] = OrderedDict()
        self._variant_bytes = 0
        self.host: Host | None = None
        self._broadcast: Callable[[dict[str, Any]], None] | None = None

    def prepare(self, registry: Registry | None = None) -> None:
        """Configure the runtimes and build each site's page routes (errors are ConfigErrors)."""
        reg = registry if registry is not None else runtime_registry()
        suffixes: dict[str, str] = {}
        path_info: set[str] = set()
        for runtime in reg:
            for suffix in runtime.suffixes:
                if suffix in suffixes:
                    raise ConfigError(f"suffix {suffix} claimed by runtimes '{suffixes[suffix]}' and '{runtime.name}'")
                suffixes[suffix] = runtime.name
            if getattr(runtime, "path_info", False):
                path_info.update(runtime.suffixes)
        used: set[str] = set()
        for site in self.sites.values():
            site.router = Router(site.root, suffixes, frozenset(path_info))
            used |= site.router.runtimes_used
        for name in sorted(used):
            runtime = reg.get(name)
            assert runtime is not None
            availability = runtime.available()
            if not availability.ok:
                log.warning("runtime %s is %s; its pages answer 503", name, availability)
                continue
            runtime.configure(RuntimeConfig(dict(self.config.runtimes.get(name, {})), self.config.limits, self.dev))
            self.runtimes[name] = runtime
        for site in self.sites.values():
            # Every site's table is checked against the server's, whether or not the site has pages of the
            # runtime now: a site's `dynlan.toml` may only tighten the server's policy, and never goes unread.
            for runtime in reg:
                site.runtime_options[runtime.name] = runtime.site_options(
                    dict(self.config.runtimes.get(runtime.name, {})), dict(site.config.runtimes.get(runtime.name, {})),
                    site.config_file, site.name,
                )
            for name in sorted(site.config.runtimes.keys() - site.runtime_options.keys()):
                log.warning("%s: [%s] is not applied: runtime %s failed to load", site.config_file, name, name)
        self._registry = reg
        self._page_suffixes = frozenset(suffixes)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Runtimes and host services live as long as this context."""
        async with trio.open_nursery() as nursery:
            cfg = self.config.cache
            self.host = Host(cache=make_cache(cfg), dev=self.dev, nursery=nursery, broadcast_purge=self._broadcast_purge)
            if cfg.responses:
                self.host.responses = ResponseCache(
                    cfg.response_max_bytes, max_entry=cfg.response_max_entry, stale_if_error=cfg.stale_if_error,
                )
            started: list[Runtime] = []
            try:
                for runtime in self.runtimes.values():
                    await runtime.start(self.host)
                    started.append(runtime)
                yield
            finally:
                with trio.CancelScope(shield=True):
                    for runtime in reversed(started):
                        try:
                            await runtime.aclose()
                        except Exception:
                            log.exception("runtime %s failed to close", runtime.name)
                    await self.host.cache.aclose()
                nursery.cancel_scope.cancel()

    # -- control messages (the server's control socket) ------------------------------

    def set_broadcast(self, broadcast: Callable[[dict[str, Any]], None]) -> None:
        """How to reach the server's other processes (purges made by pages go to all of them)."""
        self._broadcast = broadcast

    def _broadcast_purge(self, message: dict[str, str]) -> None:
        if self._broadcast is not None:
            self._broadcast({"op": "purge", **message})

    def control(self, message: dict[str, Any]) -> dict[str, Any]:
        """Answer one control message: `purge` (path, tag or all; optionally one site) or `stats`."""
        op = message.get("op")
        responses = self.host.responses if self.host is not None else None
        if op == "stats":
            return {"ok": True, "pid": os.getpid(),
                    "responses": responses.statistics() if responses is not None else None,
                    "counters": dict(self.host.counters) if self.host is not None else {}}
        if op != "purge":
            return {"ok": False, "error": f"unknown control operation {op!r}"}
        site = message.get("site")
        if site is not None and site not in self.sites:
            return {"ok": False, "error": f"no site named {site!r}"}
        path, tag = message.get("path"), message.get("tag")
        for value in (site, path, tag):
            if value is not None and not isinstance(value, str):
                return {"ok": False, "error": "site, path and tag are strings"}
        if path is None and tag is None and not message.get("all"):
            return {"ok": False, "error": "purge needs a path, a tag or all"}
        purged = responses.purge(site, path=path, tag=tag) if responses is not None else 0
        return {"ok": True, "pid": os.getpid(), "purged": purged}

    async def run_page(self, exchange: Exchange, site: Site, match: Match) -> None:
        route = match.route
        runtime = self.runtimes.get(route.runtime)
        if runtime is None or self.host is None:
            reg_runtime = self._registry.get(route.runtime) if self._registry is not None else None
            reason = str(reg_runtime.available()) if reg_runtime is not None else "not installed"
            raise HttpError(503, f"runtime {route.runtime} is {reason}")
        request = exchange.request
        responses = self.host.responses
        stale = None
        fill = None
        if responses is not None and responses.eligible(request):
            entry = responses.lookup(site.name, request)
            if (entry is None or not responses.is_fresh(entry)) and responses.filling(site.name, request):
                # Another request is running the page for this path: its answer will do.
                entry = await responses.wait_filled(site.name, request, site.config.limits.wall_time) or entry
            if entry is not None and responses.is_fresh(entry):
                await responses.send(exchange, entry, site.config.compression, "HIT")
                return
            stale = entry
            fill = responses.begin_fill(site.name, request)
        ctx = PageContext(
            host=self.host,
            exchange=exchange,
            page=route.file,
            page_name=route.name,
            params=match.params,
            path_info=match.path_info,
            fs=site.fs,
            limits=site.config.limits,
            dev=self.dev,
            max_body_size=site.config.http.max_body_size,
            site_name=site.name,
            cache_namespace=site.cache_namespace,
            options=site.runtime_options[route.runtime],
            compression=site.config.compression,
        )
        ctx.stale = stale
        try:
            await run_page(runtime, ctx)
        finally:
            if responses is not None:
                responses.end_fill(site.name, request, fill)

    def site_for(self, host: str) -> Site:
        if not host:
            return self.default
        name = host.lower()
        # An IPv6 literal keeps its brackets ([::1]:8080); otherwise drop the port.
        name = name[: name.find("]") + 1] if name.startswith("[") else name.partition(":")[0]
        return self.sites.get(name, self.default)

    async def handle(self, exchange: Exchange) -> None:
        request = exchange.request
        site = self.site_for(request.host)
        try:
            await self._dispatch(exchange, site)
        except HttpError as exc:
            if exchange.response_started:
                raise
            await self.send_error(exchange, site, exc.status, exc.message, close=exc.close)
            if exc.close:
                raise
        except (trio.Cancelled, trio.BrokenResourceError, trio.ClosedResourceError):
            raise
        except Exception as exc:
            log.error("request %s failed:\n%s", request.request_id, format_exception(exc))
            if exchange.response_started:
                raise
            await self.send_error(
                exchange, site, 500, "internal server error",
                detail=format_exception(exc) if self.dev else None,
            )

    async def send_error(
        self, exchange: Exchange, site: Site | None, status: int, message: str,
        *, detail: str | None = None, close: bool = False, headers: list[tuple[str, str]] | None = None,
    ) -> None:
        ctype, body = error_body(site, status, message, exchange.request.request_id, detail)
        out = [("content-type", ctype), ("content-length", str(len(body)))]
        out.extend(headers or [])
        if close:
            out.append(("connection", "close"))
        await exchange.respond(status, out, body)

    async def _dispatch(self, exchange: Exchange, site: Site) -> None:
        request = exchange.request
        if request.path == "*":
            if request.method == "OPTIONS":
                # RFC 9110 §9.3.7: OPTIONS * asks about the server as a whole.
                await exchange.respond(204, [("allow", "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS")], b"")
                return
            raise HttpError(400, "'*' is only valid with OPTIONS")
        if not request.path.startswith("/"):
            raise HttpError(400, "request target must start with '/'")
        router: Router | None = site.router
        if router is None:
            await self.serve_static(exchange, site)
            return
        try:
            match = router.match(request.path)
        except UnicodeDecodeError:
            raise HttpError(400, "path is not valid UTF-8") from None
        if match is not None and not match.route.dynamic:
            await self.run_page(exchange, site, match)
            return
        if router.folder_redirect(request.path):
            location = request.path + "/" + ("?" + request.query_string if request.query_string else "")
            await exchange.respond(301, [("location", location), ("content-length", "0")], b"")
            return
        try:
            await self.serve_static(exchange, site)
            return
        except HttpError as exc:
            if exc.status != 404:
                raise
            # A page named by its file with more path after it (`/info.php/a/b`) comes before a
            # dynamic route that would also take that path: the file is the more literal match.
            split = router.split_path_info(request.path)
            if split is None and match is None and router.maybe_rescan():
                split = router.split_path_info(request.path)
                match = router.match(request.path)
            match = split or match
            if match is None:
                raise
        await self.run_page(exchange, site, match)

    def resolve(self, site: Site, raw_path: str) -> static.Resolved:
        key = (site.root, raw_path)
        now = time.monotonic()
        cached = self._resolved.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        cfg = site.config.static
        try:
            resolved = static.resolve(
                site.root, raw_path,
                index_names=cfg.index_names,
                clean_url_suffixes=(".html",) if cfg.clean_urls else (),
                listing=cfg.listing,
            )
        except static.StaticError as exc:
            raise HttpError(exc.status, exc.message) from None
        if len(self._resolved) >= 10000:
            self._resolved.clear()
        self._resolved[key] = (now + 1.0, resolved)
        return resolved

    async def serve_static(self, exchange: Exchange, site: Site) -> None:
        request = exchange.request
        resolved = self.resolve(site, request.path)
        if resolved.kind == "missing":
            raise HttpError(404, f"{request.path} not found")
        if resolved.kind == "file" and site.router is not None:
            suffix = os.path.splitext(resolved.fs_path)[1]
            if suffix in self._page_suffixes:
                # A page's file is run, never sent as source (`/hello.php` runs hello.php).
                route = site.router.by_file.get(resolved.fs_path)
                if route is None or route.dynamic:
                    raise HttpError(404, f"{request.path} not found")
                # `/info.php/` runs info.php with path info "/".
                await self.run_page(exchange, site, site.router.split_path_info(request.path) or Match(route, {}))
                return
        if request.method == "OPTIONS":
            await exchange.respond(204, [("allow", ALLOW_STATIC)], b"")
            return
        if request.method not in ("GET", "HEAD"):
            await self.send_error(exchange, site, 405, f"{request.method} not allowed here", headers=[("allow", ALLOW_STATIC)])
            return
        if resolved.kind == "redirect":
            location = resolved.redirect_to or "/"
            if request.query_string:
                location += "?" + request.query_string
            await exchange.respond(301, [("location", location), ("content-length", "0")], b"")
            return
        if resolved.kind == "listing":
            body = static.render_listing(resolved.url_path, resolved.fs_path)
            await exchange.respond(200, [("content-type", "text/html; charset=utf-8"), ("content-length", str(len(body)))], body)
            return
        await self.send_file(exchange, resolved.fs_path, site)

    def _choose_coding(self, site: Site, request_headers: Headers, fs_path: str, st: os.stat_result) -> tuple[str | None, str | None]:
        """(coding, sibling path) for a static file: a precompressed sibling, on-the-fly, or identity."""
        cfg = site.config.compression
        if not cfg.enabled or not compression.compressible(static.mime_type(fs_path)):
            return None, None
        accept = request_headers.get("accept-encoding")
        if not accept:
            return None, None
        siblings: dict[str, str] = {}
        if cfg.precompressed:
            for coding, suffix in compression.SIBLING_SUFFIX.items():
                candidate = fs_path + suffix
                if os.path.isfile(candidate):
                    siblings[coding] = candidate
        offered = list(siblings)
        if cfg.min_size <= st.st_size <= cfg.max_size:
            offered += [c for c in compression.available_codings() if c not in siblings]
        offered.sort(key=compression.SERVER_PREFERENCE.index)
        chosen = compression.negotiate(accept, offered)
        return chosen, siblings.get(chosen) if chosen else None

    def _encoded(self, fs_path: str, st: os.stat_result, coding: str) -> bytes:
        """The file compressed with `coding`, built once per file version."""
        key = (fs_path, coding)
        signature = static.FileCache.signature(st)
        cached = self._variants.get(key)
        if cached is not None and cached[0] == signature:
            self._variants.move_to_end(key)
            return cached[1]
        with open(fs_path, "rb") as f:
            data = compression.compress(f.read(), coding)
        self._variants[key] = (signature, data)
        self._variant_bytes += len(data)
        while self._variant_bytes > VARIANT_BUDGET and self._variants:
            _, (_, dropped) = self._variants.popitem(last=False)
            self._variant_bytes -= len(dropped)
        return data

    async def send_file(self, exchange: Exchange, fs_path: str, site: Site | None = None) -> None:
        request = exchange.request
        try:
            st = os.stat(fs_path)
        except OSError:
            self._resolved.clear()
            raise HttpError(404, f"{request.path} not found") from None
        vary = False
        if site is not None:
            coding, sibling = self._choose_coding(site, request.headers, fs_path, st)
            vary = site.config.compression.enabled and compression.compressible(static.mime_type(fs_path))
            if coding is not None and sibling is None:
                data = self._encoded(fs_path, st, coding)
                plan = static.plan(request.method, request.headers.as_dict(), fs_path, st, coding=coding, size=len(data))
                body = b"".join(
                    data[p.offset : p.offset + p.length] if isinstance(p, static.FileSlice) else p for p in plan.body
                )
                headers = list(plan.headers)
                compression.add_vary(headers)
                await exchange.respond(plan.status, headers, body)
                return
            if coding is not None and sibling is not None:
                await self._send_path(exchange, sibling, os.stat(sibling), content_path=fs_path, coding=coding, vary=True)
                return
        await self._send_path(exchange, fs_path, st, vary=vary)

    async def _send_path(
        self, exchange: Exchange, fs_path: str, st: os.stat_result, *,
        content_path: str | None = None, coding: str | None = None, vary: bool = False,
    ) -> None:
        """Send a file from disk (or the file cache); `content_path` names what it represents."""
        request = exchange.request
        shown = content_path or fs_path

        def make_plan(stat: os.stat_result) -> static.Plan:
            p = static.plan(request.method, request.headers.as_dict(), shown, stat, coding=coding, size=stat.st_size)
            if vary:
                headers = list(p.headers)
                compression.add_vary(headers)
                return static.Plan(p.status, headers, p.body)
            return p

        cached = self.file_cache.get(fs_path, st)
        if cached is not None:
            plan = make_plan(st)
            body = b"".join(
                cached[p.offset : p.offset + p.length] if isinstance(p, static.FileSlice) else p
                for p in plan.body
            )
            await exchange.respond(plan.status, plan.headers, body)
            return
        try:
            fd = os.open(fs_path, os.O_RDONLY)
        except OSError:
            raise HttpError(404, f"{request.path} not found") from None
        try:
            st = os.fstat(fd)
            if st.st_size <= self.file_cache.max_file:
                self.file_cache.put(fs_path, st, os.pread(fd, st.st_size, 0))
            plan = make_plan(st)
            total = sum(p.length if isinstance(p, static.FileSlice) else len(p) for p in plan.body)
            if total <= SMALL_FILE or request.method == "HEAD":
                chunks: list[bytes] = []
                for piece in plan.body:
                    if isinstance(piece, static.FileSlice):
                        chunks.append(os.pread(fd, piece.length, piece.offset))
                    else:
                        chunks.append(piece)
                await exchange.respond(plan.status, list(plan.headers), b"".join(chunks))
                return
            await exchange.send_head(plan.status, list(plan.headers))
            send_file = getattr(exchange, "send_file", None)
            for piece in plan.body:
                if not isinstance(piece, static.FileSlice):
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


