"""One request through its site: rules, then a page or a static file, with errors rendered in one place.

    site (by Host, chosen by the app)
      -> the request's checks: target form, declared body size
      -> site rules: answer now (redirect, respond, 401/403/405) or go on with the (maybe rewritten) path
      -> page route: an exact page; else the one resolve of the path in the site folder decides:
           a page's file is run (never sent), any other file or folder is static,
           nothing there: a page named by its file with path info, then a dynamic page
      -> static file
    any HttpError or failure on the way -> the site's error page (`_errors.py`)
"""

from __future__ import annotations

import logging
import os
import time
from typing import TYPE_CHECKING

import trio

from dynlan import static
from dynlan.app._errors import format_exception, send_error
from dynlan.app._exchange import SiteExchange
from dynlan.app._livereload import LIVE_PATH, LiveReload
from dynlan.app._router import Match, Route, Router
from dynlan.app._rules import IpNetwork, client_address, parse_networks
from dynlan.app._sites import Site
from dynlan.config import StaticConfig
from dynlan.host import PageContext, run_page
from dynlan.http import Exchange, HttpError
from dynlan.observability import LABELS
from dynlan.observability._slow import SlowLog
from dynlan.observability._tracing import current as current_tracing
from dynlan.observability._tracing import point_request_at, use_span
from dynlan.openapi._service import BODY_METHODS, WELL_KNOWN, OpenApiService
from dynlan.proxy import ProxyService, peer_trusted
from dynlan.realtime import Refusal, is_realtime, offer

if TYPE_CHECKING:
    from dynlan.app._app import App
    from dynlan.runtimes import Runtime

log = logging.getLogger("dynlan")

LINK_CHECK_TTL = 1.0


class Pipeline:
    """How the app answers a request once its site is known."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.static = static.StaticFiles()
        # page file -> (expiry, why it may not run): a page reached through a link that leaves the site.
        self._page_links: dict[str, tuple[float, str | None]] = {}
        self._trusted: tuple[list[str] | None, list[IpNetwork]] = (None, [])
        # (site folder, path) -> (expiry, router, [static] settings, static.generation, resolution): a path
        # decided static.
        self._static_routes: dict[
            tuple[str, str], tuple[float, Router | None, StaticConfig, int, static.Resolved]
        ] = {}
        self.proxies = ProxyService(app)
        """The upstream groups of `proxy` rules (docs/proxy.md)."""
        self.openapi = OpenApiService()
        """The sites' OpenAPI documents and their pages' request checks (`[openapi]`, docs/openapi.md)."""
        self.slow: SlowLog | None = None
        """Logs pages running past `[log] slow_fraction` of their wall time (set by the worker when asked for)."""
        self.live = LiveReload(app) if app.dev else None
        """`--dev`: pages reload in the browser when their site's files change (dynlan.app._livereload)."""

    async def handle(self, exchange: Exchange, site: Site, trusted_proxies: list[str]) -> None:
        # The metrics' labels of this request (read by the access log once it is answered).
        LABELS.set((site.name, "-", "-"))
        tracing = current_tracing()
        if tracing is None:
            await self._handle(exchange, site, trusted_proxies)
            return
        span = tracing.start_request(exchange.request, site.name)
        try:
            await self._handle(exchange, site, trusted_proxies)
        finally:
            _, route, runtime = LABELS.get()
            tracing.end_request(span, exchange.request.method, exchange.status or 499, route, runtime)

    async def _handle(self, exchange: Exchange, site: Site, trusted_proxies: list[str]) -> None:
        live = self.live
        ex = SiteExchange(exchange, site.config.http.max_body_size) if live is None else live.exchange(exchange, site)
        client = ex.request.client
        peer = client[0] if client is not None else ""
        if trusted_proxies and client is not None:
            # Pages, rules and the access log see the client a trusted proxy names (X-Forwarded-For, Forwarded).
            trusted = self._trusted_networks(trusted_proxies)
            ex.request.client = (client_address(client[0], ex.request.headers, trusted), client[1])
        try:
            if live is not None and ex.request.path == LIVE_PATH:
                await live.stream(ex, site)
                return
            await self._answer(ex, site, peer, trusted_proxies)
        except HttpError as exc:
            if ex.response_started:
                raise
            await send_error(ex, site, exc.status, exc.message, detail=exc.detail, close=exc.close)
            if exc.close:
                raise
        except (trio.Cancelled, trio.BrokenResourceError, trio.ClosedResourceError):
            raise
        except Exception as exc:
            log.error("request %s failed:\n%s", ex.request.request_id, format_exception(exc))
            if ex.response_started:
                raise
            await send_error(ex, site, 500, "internal server error",
                             detail=format_exception(exc) if self.app.dev else None)

    def _trusted_networks(self, written: list[str]) -> list[IpNetwork]:
        """`[server] trusted_proxies` as networks, parsed once per configuration (a reload brings a new list)."""
        if self._trusted[0] is not written:
            self._trusted = (written, parse_networks(written, "server.trusted_proxies"))
        return self._trusted[1]

    async def _answer(self, ex: SiteExchange, site: Site, peer: str, trusted_proxies: list[str]) -> None:
        request = ex.request
        if request.path == "*":
            if request.method == "OPTIONS":
                # RFC 9110 §9.3.7: OPTIONS * asks about the server as a whole.
                await ex.respond(204, [("allow", "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS")], b"")
                return
            raise HttpError(400, "'*' is only valid with OPTIONS")
        if not request.path.startswith("/"):
            raise HttpError(400, "request target must start with '/'")
        ex.check_declared_body()
        rules = site.rules
        if rules:
            client = request.client[0] if request.client is not None else ""
            outcome = await rules.evaluate(request.method, request.path, request.query_string, request.host,
                                           client, request.headers, self.app.limiter, site.name)
            ex.untouched = outcome.untouched
            if outcome.edits:
                ex.edit = outcome.edits.apply
            if outcome.is_error:
                await send_error(ex, site, outcome.status, outcome.message, headers=outcome.headers)
                return
            if outcome.status:
                # A `respond` rule's own body, whatever its status; no Content-Length on a 204 (RFC 9110 §8.6).
                length = [] if outcome.status in (204, 304) else [("content-length", str(len(outcome.body)))]
                await ex.respond(outcome.status, [*outcome.headers, *length], outcome.body)
                return
            if outcome.proxy is not None:
                # To an upstream (docs/proxy.md); the connection's peer, not the client a trusted proxy names,
                # is this hop's `X-Forwarded-For`.
                trusted = bool(trusted_proxies) and peer_trusted(peer, self._trusted_networks(trusted_proxies))
                LABELS.set((site.name, "proxy", "proxy"))
                websocket = offer(request)
                if isinstance(websocket, Refusal):
                    # A malformed handshake is answered here, as a page's would be (400, or 426 with the
                    # version this server speaks), and never reaches the upstream.
                    await send_error(ex, site, websocket.status, websocket.message, headers=list(websocket.headers))
                    return
                await self.proxies.forward(ex, outcome.proxy, outcome.target, peer, trusted, websocket)
                return
            if outcome.query != request.query_string:
                # A rewrite that gives a query: pages read that one. `request.path` stays the path the
                # client asked for (what logs, caches and redirects name); the rewritten one is routed.
                request.query_string = outcome.query
                request._query = None
            await self._route(ex, site, outcome.path)
            return
        await self._route(ex, site, request.path)

    async def _route(self, ex: SiteExchange, site: Site, path: str) -> None:
        """A page or a static file for `path`, decided by the router and one resolve of the path."""
        router: Router | None = site.router
        if path == WELL_KNOWN and site.config.openapi.serve:
            await self._openapi_document(ex, site)
            return
        cfg = site.config.static
        key = (site.root, path)
        now = time.monotonic()
        known = self._static_routes.get(key)
        if (known is not None and known[0] > now and known[1] is router and known[2] is cfg
                and known[3] == self.static.generation):
            # The same path of the same site's routes and settings, decided static a moment ago.
            await self._static(ex, site, known[4])
            return
        match = None
        if router is not None:
            try:
                match = router.match(path)
            except UnicodeDecodeError:
                raise HttpError(400, "path is not valid UTF-8") from None
            if match is not None and not match.route.dynamic:
                await self._page(ex, site, match)
                return
            if router.folder_redirect(path):
                # To the URL the client asked for with a slash: a rewritten path is never shown.
                query = ex.request.query_string
                await ex.respond(301, [("location", ex.request.path + "/" + ("?" + query if query else "")),
                                       ("content-length", "0")], b"")
                return
        try:
            resolved = self.static.resolve(site.root, path, site.config.static)
        except static.StaticError as exc:
            raise HttpError(exc.status, exc.message) from None
        if router is None:
            self._remember_static(key, now, router, cfg, resolved)
            await self._static(ex, site, resolved)
            return
        if resolved.kind == "file" and router.runtime_for(resolved.fs_path.rpartition(os.sep)[2]) is not None:
            # A page's file is run, never sent as its source (`/hello.php` runs hello.php,
            # `/info.php/` with path info "/"), whatever its suffix.
            route = router.by_file.get(resolved.fs_path)
            if route is None and router.maybe_rescan():
                route = router.by_file.get(resolved.fs_path)
            if route is None or route.dynamic:
                raise HttpError(404, f"{path} not found")
            await self._page(ex, site, router.split_path_info(path) or Match(route, {}))
            return
        if resolved.kind != "missing":
            self._remember_static(key, now, router, cfg, resolved)
            await self._static(ex, site, resolved)
            return
        # Nothing in the folder: a page named by its file with more path after it (`/info.php/a/b`)
        # comes before a dynamic route that would also take that path, the file being the more literal.
        found = router.split_path_info(path) or match
        if found is None and router.maybe_rescan():
            found = router.split_path_info(path) or router.match(path)
        if found is None:
            if resolved.refused and self.app.dev:
                log.warning("[%s] 404 for %s: %s", ex.request.request_id, path, resolved.refused)
            raise HttpError(404, f"{path} not found")
        await self._page(ex, site, found)

    async def _openapi_document(self, ex: SiteExchange, site: Site) -> None:
        method = ex.request.method
        if method not in ("GET", "HEAD"):
            await send_error(ex, site, 405, f"{method} not allowed here", headers=[("allow", "GET, HEAD")])
            return
        body = self.openapi.document(site.name, site.root, site.router)
        await ex.respond(200, [("content-type", "application/json"), ("cache-control", "no-cache"),
                               ("content-length", str(len(body)))], b"" if method == "HEAD" else body)

    def _remember_static(
        self, key: tuple[str, str], now: float, router: Router | None, cfg: StaticConfig, resolved: static.Resolved,
    ) -> None:
        """Keep a path's static decision for as long as its resolution is kept (`StaticFiles.resolve`: a
        second), for these routes and settings only (a reload brings others); a file gone from under it
        (`StaticFiles.forget`) ends it at once, and a page added for the same URL takes it within the second."""
        if len(self._static_routes) >= static.RESOLVE_ENTRIES:
            self._static_routes.clear()
        self._static_routes[key] = (now + static.RESOLVE_TTL, router, cfg, self.static.generation, resolved)

    async def _static(self, ex: SiteExchange, site: Site, resolved: static.Resolved) -> None:
        LABELS.set((site.name, "static", "static"))
        method = ex.request.method
        if resolved.kind == "missing":
            if resolved.refused and self.app.dev:
                log.warning("[%s] 404 for %s: %s", ex.request.request_id, ex.request.path, resolved.refused)
            raise HttpError(404, f"{ex.request.path} not found")
        if method == "OPTIONS":
            await ex.respond(204, [("allow", static.ALLOW)], b"")
            return
        if method not in ("GET", "HEAD"):
            await send_error(ex, site, 405, f"{method} not allowed here", headers=[("allow", static.ALLOW)])
            return
        # Nothing but the file and the request's plain fields decide this answer (no rule applies: `replayable`):
        # it may be kept.
        keep = resolved.kind == "file" and ex.replayable and self.live is None and current_tracing() is None
        await self.static.serve(ex, resolved, site.config.compression, keep=keep)

    def _page_link_refusal(self, site: Site, page: str) -> str | None:
        """Why a page may not run: it is reached through a link that leaves the site (unless `follow`)."""
        if site.config.static.symlinks == "follow":
            return None
        now = time.monotonic()
        cached = self._page_links.get(page)
        if cached is not None and cached[0] > now:
            return cached[1]
        refusal = static.link_refusal(site.root, page, "inside")
        if len(self._page_links) >= 10000:
            self._page_links.clear()
        self._page_links[page] = (now + LINK_CHECK_TTL, refusal)
        return refusal

    async def _page(self, ex: SiteExchange, site: Site, match: Match) -> None:
        route = match.route
        LABELS.set((site.name, route.url, route.runtime))
        refusal = self._page_link_refusal(site, route.file)
        if refusal is not None:
            if self.app.dev:
                log.warning("[%s] 404 for %s: page %s not run: %s", ex.request.request_id, ex.request.path,
                            route.name, refusal)
            raise HttpError(404, f"{ex.request.path} not found")
        app = self.app
        runtime = app.runtimes.get(route.runtime)
        host = app.host
        if runtime is None or host is None:
            raise HttpError(503, f"runtime {route.runtime} is {app.unavailable_reason(route.runtime)}")
        request = ex.request
        body: bytes | None = None
        if site.config.openapi.validate:
            # The page's declared parameters and body, checked before it runs (400 with the field's pointer).
            checks = self.openapi.checks(route)
            if checks is not None:
                self.openapi.check_parameters(checks, request, match.params)
                if checks.body is not None and request.method in BODY_METHODS:
                    parts: list[bytes] = []
                    while chunk := await ex.receive():
                        parts.append(chunk)
                    body = b"".join(parts)
                    self.openapi.check_body(checks, request, body)
        responses = host.responses
        stale = None
        fill = None
        if responses is not None and responses.eligible(request) and not is_realtime(request):
            entry = responses.lookup(site.name, request)
            if entry is None and responses.shared is not None:
                # Stored by another worker or instance (`responses_backend = "redis"`).
                entry = await responses.shared.fetch(site.name, request)
            if (entry is None or not responses.is_fresh(entry)) and responses.filling(site.name, request):
                # Another request is running the page for this path: its answer will do.
                entry = await responses.wait_filled(site.name, request, site.config.limits.wall_time) or entry
            if entry is not None and responses.is_fresh(entry):
                # As a static file's (`_static`): with no rule on the path, the hit may be kept and written again.
                keep = ex.replayable and self.live is None and current_tracing() is None
                await responses.send(ex, entry, site.config.compression, "HIT", keep)
                return
            stale = entry
            fill = responses.begin_fill(site.name, request)
        ctx = PageContext(
            host=host,
            exchange=ex,
            page=route.file,
            page_name=route.name,
            params=match.params,
            path_info=match.path_info,
            fs=site.fs,
            limits=site.config.limits,
            dev=app.dev,
            max_body_size=site.config.http.max_body_size,
            site_name=site.name,
            cache_namespace=site.cache_namespace,
            options=site.runtime_options[route.runtime],
            compression=site.config.compression,
            outbound=site.config.outbound,
            websocket=site.config.websocket,
        )
        ctx.stale = stale
        if body is not None:
            # Read for its check: the page reads it from there (`read_body`).
            ctx._body = body
            ctx._body_received = len(body)
        try:
            await self._run_page(runtime, ctx, route)
        finally:
            if responses is not None:
                responses.end_fill(site.name, request, fill)

    async def _run_page(self, runtime: Runtime, ctx: PageContext, route: Route) -> None:
        slow = self.slow
        if slow is not None:
            request_id = ctx.request.request_id
            slow.begin(request_id, ctx.site_name, route.name, ctx.limits.wall_time)
            try:
                await self._run_traced(runtime, ctx, route)
            finally:
                slow.end(request_id)
            return
        await self._run_traced(runtime, ctx, route)

    @staticmethod
    async def _run_traced(runtime: Runtime, ctx: PageContext, route: Route) -> None:
        tracing = current_tracing()
        if tracing is None:
            await run_page(runtime, ctx)
            return
        # The page's span: the page and its host calls see it in `traceparent` (docs/operations.md, Traces).
        span = tracing.child(ctx.request, f"page {route.url}", attributes={
            "dynlan.page": route.name, "dynlan.runtime": route.runtime})
        point_request_at(ctx.request, span)
        with use_span(span, end_on_exit=True, record_exception=True, set_status_on_exception=True):
            await run_page(runtime, ctx)
