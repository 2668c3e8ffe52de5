"""The per-request context a runtime answers through: request, response, cache, fs, log.

Everything a page can touch for one request lives here (OpenResty's per-request
`ngx.ctx` model); what outlives the request lives only in host services.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from dynlan import compression
from dynlan.config import CompressionConfig, LimitsConfig, OutboundConfig, WebSocketConfig
from dynlan.host._devreport import Frame
from dynlan.host._fs import SiteFs
from dynlan.host._respcache import CachedResponse, CachePolicy, make_policy, policy_from_headers
from dynlan.http import Exchange, Headers, HttpError, HttpRequest

if TYPE_CHECKING:
    import trio

    from dynlan.host._host import Host
    from dynlan.realtime import Realtime
    from dynlan.sessions import PageSession

page_log = logging.getLogger("dynlan.page")

# RFC 9110 §5.1: a field name is a token; §5.5: a field value holds no CR, LF, NUL or other control
# character but HTAB. A page that could send either would forge headers (response splitting) or put
# the connection out of step.
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")

# Output is buffered up to this many bytes; beyond it (or on flush()) the head
# goes out and the body streams with chunked framing.
OUTPUT_BUFFER = 1024 * 1024

DEFAULT_CONTENT_TYPE = "text/html; charset=utf-8"
"""What a page's response is until the page says otherwise."""


class BudgetExceeded(Exception):
    """A page ran past one of its per-request budgets."""

    STATUS = {"time": 503, "instructions": 503, "memory": 500, "output": 500}

    def __init__(self, kind: str, message: str) -> None:
        self.kind = kind
        self.status = self.STATUS.get(kind, 500)
        super().__init__(message)


class PageError(Exception):
    """A page failed; `detail` is the language's own traceback, mapped to the page's files.

    `kind` names the error as the language does (`KeyError`, `RuntimeException`), `frames` are the
    page's own frames, innermost first, and `headline` is the message without its kind or location:
    what `--dev` shows (dynlan.host._devreport), each once.
    """

    def __init__(self, message: str, detail: str = "", file: str | None = None, line: int | None = None, *,
                 kind: str = "", frames: Sequence[Frame] = (), headline: str | None = None) -> None:
        self.detail = detail
        self.file = file
        self.line = line
        self.kind = kind
        self.frames = tuple(frames)
        self.headline = message if headline is None else headline
        super().__init__(message)


class PageLog:
    """`log.debug/info/warn/error` for pages, tagged with the request id."""

    __slots__ = ("request_id", "page")

    def __init__(self, request_id: str, page: str) -> None:
        self.request_id = request_id
        self.page = page

    def _log(self, level: int, message: Any) -> None:
        page_log.log(level, "[%s] %s: %s", self.request_id, self.page, message)

    def debug(self, message: Any) -> None:
        self._log(logging.DEBUG, message)

    def info(self, message: Any) -> None:
        self._log(logging.INFO, message)

    def warn(self, message: Any) -> None:
        self._log(logging.WARNING, message)

    warning = warn

    def error(self, message: Any) -> None:
        self._log(logging.ERROR, message)

    def at(self, level: str, message: Any) -> None:
        levels = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING,
                  "warning": logging.WARNING, "error": logging.ERROR}
        self._log(levels.get(str(level).lower(), logging.INFO), message)


def _cookie_header(name: str, value: str, options: dict[str, Any]) -> str:
    cookie: SimpleCookie = SimpleCookie()
    cookie[name] = value
    morsel = cookie[name]
    for key, opt in options.items():
        key = key.lower().replace("_", "-")
        if key in ("httponly", "secure"):
            morsel[key] = bool(opt)
        elif key in ("max-age", "path", "domain", "samesite", "expires"):
            morsel[key] = str(opt)
        else:
            raise ValueError(f"unknown cookie option '{key}'")
    return morsel.OutputString()


@dataclass(slots=True)
class PageResponse:
    """What a page sets: status, headers, cookies, body chunks."""

    ctx: PageContext
    status: int = 200
    headers: Headers = field(default_factory=lambda: Headers.from_lowered([("content-type", DEFAULT_CONTENT_TYPE)]))
    _chunks: list[bytes] = field(default_factory=list)
    _buffered: int = 0
    written: int = 0
    streaming: bool = False
    finished: bool = False

    def set_status(self, status: Any) -> None:
        if isinstance(status, float) and status.is_integer():
            status = int(status)
        # A 1xx is never a final response (RFC 9110 §15.2): sent as one, 100 or 101 would leave an HTTP/1.1
        # connection out of step with the client, which then reads the next response as this one's.
        if isinstance(status, bool) or not isinstance(status, int) or not 200 <= status <= 599:
            raise ValueError(f"invalid status {status!r} (a page's response status is 200 to 599)")
        if self.streaming:
            raise RuntimeError("status cannot change after the response started")
        self.status = status

    def set_header(self, name: str, value: Any) -> None:
        self._check_header(name, value)
        self.headers.set(name, str(value))

    def add_header(self, name: str, value: Any) -> None:
        self._check_header(name, value)
        self.headers.add(name, str(value))

    def _check_header(self, name: str, value: Any) -> None:
        if self.streaming:
            raise RuntimeError("headers cannot change after the response started")
        if not _TOKEN.fullmatch(name):
            raise ValueError(f"invalid header name {name!r}")
        if _BAD_VALUE.search(str(value)):
            raise ValueError(f"invalid value for header {name!r}: control characters are not allowed")

    def set_cookie(self, name: str, value: Any, options: dict[str, Any] | None = None) -> None:
        self.add_header("set-cookie", _cookie_header(name, str(value), options or {}))

    def redirect(self, location: str, status: int = 302) -> None:
        self.set_status(status)
        self.set_header("location", location)

    def write(self, data: str | bytes) -> None:
        if self.finished:
            raise RuntimeError("the page accepted a WebSocket: it sends with ws:send, there is no response to write")
        chunk = data.encode() if isinstance(data, str) else data
        self.written += len(chunk)
        limit = self.ctx.limits.output_size
        if self.written > limit:
            raise BudgetExceeded("output", f"page wrote more than its output budget of {limit} bytes")
        self._chunks.append(chunk)
        self._buffered += len(chunk)

    def json(self, value: Any, status: int | None = None) -> None:
        if status is not None:
            self.set_status(status)
        self.set_header("content-type", "application/json")
        self.write(json.dumps(value, separators=(",", ":"), ensure_ascii=False))

    @property
    def wants_flush(self) -> bool:
        return self._buffered > OUTPUT_BUFFER

    def take_body(self) -> bytes:
        body = b"".join(self._chunks)
        self._chunks.clear()
        self._buffered = 0
        return body

    async def flush(self) -> None:
        """Send the head (once) and everything written so far."""
        if self.finished:
            return  # a WebSocket has the connection: nothing of a response goes out any more
        exchange = self.ctx.exchange
        if not self.streaming:
            self.streaming = True
            await exchange.send_head(self.status, self.headers.items())
        body = self.take_body()
        if body:
            await exchange.send_body(body)

    async def finish(self) -> None:
        if self.finished:
            return
        if self.ctx.realtime is not None:
            # A refused WebSocket handshake is answered 426 (or 400) unless the page wrote its own response.
            self.ctx.realtime.settle(self)
        exchange = self.ctx.exchange
        if self.streaming:
            await self.flush()  # before `finished`: flush sends nothing once the response is finished
            self.finished = True
            await exchange.finish()
            return
        self.finished = True
        body = self.take_body()
        headers = self.headers.items()
        ctx = self.ctx
        responses = ctx.host.responses
        if responses is not None and ctx.request.method == "GET" and not ctx.session_private:
            policy = policy_from_headers(self.headers, ctx.cache_policy)
            if policy is not None:
                entry = responses.store(ctx.site_name, ctx.request, policy, self.status, headers, body)
                if entry is not None and responses.shared is not None:
                    await responses.shared.put(entry)
                if entry is not None:
                    await responses.send(exchange, entry, ctx.compression, "MISS")
                    return
        body = self._maybe_compress(headers, body)
        if body or ctx.request.method != "HEAD":
            # A HEAD response's length is the GET response's or is left out (RFC 9110 §8.6); a runtime
            # that does not produce the body for HEAD (php-cgi) leaves nothing to count.
            headers.append(("content-length", str(len(body))))
        await exchange.respond(self.status, headers, body)

    def _maybe_compress(self, headers: list[tuple[str, str]], body: bytes) -> bytes:
        """Compress a whole (not streamed) page response the client accepts compressed."""
        cfg = self.ctx.compression
        if cfg is None or not cfg.enabled:
            return body
        ctype = None
        for k, v in headers:  # one pass, in a loop: this runs for every page response
            if k == "content-type":
                if ctype is None:
                    ctype = v
            elif k == "content-encoding":
                return body
        if ctype is None and self.status == 304:
            # RFC 9110 §15.4.5: a 304 carries the Vary the 200 would. It has no type of its own (php-cgi
            # sends none); the 200's is the one a page gets by default.
            ctype = DEFAULT_CONTENT_TYPE
        if not compression.compressible(ctype or ""):
            return body
        compression.add_vary(headers)
        if len(body) < cfg.min_size or self.status < 200 or self.status in (204, 206, 304):
            return body
        coding = compression.negotiate(self.ctx.request.headers.get("accept-encoding"), compression.available_codings())
        if coding is None:
            return body
        headers.append(("content-encoding", coding))
        for i, (k, v) in enumerate(headers):
            if k == "etag" and not v.startswith("W/"):
                headers[i] = (k, "W/" + v)  # a byte-exact validator no longer matches the encoded bytes
        return compression.compress(body, coding)


class PageContext:
    """One request to one page."""

    def __init__(
        self,
        *,
        host: Host,
        exchange: Exchange,
        page: str,
        page_name: str,
        params: dict[str, str],
        fs: SiteFs,
        limits: LimitsConfig,
        dev: bool,
        max_body_size: int,
        site_name: str = "",
        cache_namespace: str | None = None,
        options: dict[str, Any] | None = None,
        compression: CompressionConfig | None = None,
        path_info: str = "",
        outbound: OutboundConfig | None = None,
        websocket: WebSocketConfig | None = None,
    ) -> None:
        self.host = host
        self.exchange = exchange
        self.request: HttpRequest = exchange.request
        self.page = page
        """Absolute path of the page file."""
        self.page_name = page_name
        """The page's path relative to the site root (what error messages show)."""
        self.params = params
        self.path_info = path_info
        """The decoded URL path after the page's own name (`/a/b` for `/info.php/a/b`; CGI's PATH_INFO)."""
        self.fs = fs
        self.limits = limits
        self.dev = dev
        self.max_body_size = max_body_size
        self.site_name = site_name
        self.cache = host.cache_for(site_name if cache_namespace is None else cache_namespace)
        """The page cache in this site's namespace."""
        self.closed = False
        """Set when the request has ended: host calls for it are refused from then on."""
        self.unavailable: str | None = None
        """A shared store the page called failed closed (sessions): a page error after it is a 503, saying this."""
        self.options = options or {}
        """This site's table for the runtime (e.g. `[python] sandbox = "process"`)."""
        self.compression = compression
        """How the site compresses responses (None: never)."""
        self.outbound = outbound if outbound is not None else OutboundConfig()
        """What the site's pages may reach with `http.request` (default: nothing)."""
        self.websocket = websocket if websocket is not None else WebSocketConfig()
        """The site's WebSocket and event-stream limits."""
        self.realtime: Realtime | None = None
        """The page's WebSocket, event stream and channel subscriptions (dynlan.realtime), once it asks for one."""
        self.wall_deadline = math.inf
        """When the page's wall-time budget ends (trio's clock): `run_page` sets it, an accepted WebSocket or event
        stream moves it to its lifetime."""
        self.wall_scopes: list[trio.CancelScope] = []
        """The page's wall-time budget (`run_page`'s, and a runtime's own): an accepted WebSocket or event stream
        moves their deadlines to its lifetime."""
        self.response = PageResponse(self)
        self.log = PageLog(self.request.request_id, page_name)
        self._body: bytes | None = None
        self._body_received = 0
        self._cookies: dict[str, str] | None = None
        self.cache_policy: CachePolicy | None = None
        """Set by `response.cache(...)`: the response may be kept in the response cache."""
        self.stale: CachedResponse | None = None
        """An expired cached response that may stand in if the page fails."""
        self.session_private = False
        """The page used a user's session: its response is never kept in the response cache."""
        self._session: PageSession | None = None
        self.usage: dict[str, int] = {}
        """What the runtime measured of the request's budgets (`instructions`; `memory`, `output` in bytes), for `--dev`."""

    @property
    def language(self) -> str:
        """The page's language, named by its suffix (`lua`, `py`, `php`, `wren`, `jinja`)."""
        return self.page_name.rpartition(".")[2]

    # -- response cache ----------------------------------------------------------

    def cache_response(
        self, ttl: Any, vary: Any = None, tags: Any = None, query: Any = None, stale_if_error: Any = None,
    ) -> None:
        """Ask for this response to be kept and served to matching requests for `ttl` seconds."""
        self.cache_policy = make_policy(ttl, vary, tags, query, stale_if_error)

    def purge(self, path: Any = None, tag: Any = None) -> int:
        """Drop this site's cached responses by path (`/x`, `/blog/*`) or tag, in every worker."""
        if (path is None) == (tag is None):
            raise ValueError("purge takes a path or a tag")
        what = {"path": str(path)} if path is not None else {"tag": str(tag)}
        host = self.host
        count = host.responses.purge(self.site_name, **what) if host.responses is not None else 0
        if host.broadcast_purge is not None:
            host.broadcast_purge({"site": self.site_name, **what})
        if host.publish_purge is not None:
            host.publish_purge({"site": self.site_name, **what})  # the other instances, through Redis
        return count

    @property
    def session(self) -> PageSession:
        """This request's session (dynlan.sessions), in the site's namespace; loaded on first use."""
        if self._session is None:
            service = self.host.sessions
            if service is None:
                raise RuntimeError("sessions are not available in this server")
            from dynlan.sessions import PageSession

            self._session = PageSession(service, self, self.cache.namespace)
        return self._session

    # -- request helpers -------------------------------------------------------

    @property
    def cookies(self) -> dict[str, str]:
        if self._cookies is None:
            jar: dict[str, str] = {}
            for header in self.request.headers.get_all("cookie"):
                for part in header.split(";"):
                    name, sep, value = part.strip().partition("=")
                    if sep and name and name not in jar:
                        jar[name] = value.strip('"')
            self._cookies = jar
        return self._cookies

    def query_first(self) -> dict[str, str]:
        """Query parameters, first value of each (what `request.query.name` gives)."""
        return {k: v[0] for k, v in self.request.query.items()}

    @property
    def body_length(self) -> int | None:
        """The body's length as the request declares it up front (0: no body), or None when only its end tells:
        a chunked HTTP/1.1 body (Transfer-Encoding wins over Content-Length, RFC 9112 §6.3), or an HTTP/2 or
        HTTP/3 request without content-length, whose body ends with its stream (RFC 9113 §8.1, RFC 9114 §4.1)."""
        headers = self.request.headers
        if self.request.http_version == "2" and headers.get("upgrade") == "websocket":
            return 0  # an extended CONNECT (RFC 8441): the stream's DATA are the WebSocket's, not a body
        if "transfer-encoding" in headers:
            return None
        length = headers.get("content-length")
        if length is not None:
            length = length.strip()
            return int(length) if length.isdigit() else None
        return None if self.request.http_version in ("2", "3") else 0

    @property
    def has_body(self) -> bool:
        """True when the request may carry a body (see `body_length`)."""
        return self.body_length != 0

    def close(self) -> None:
        """The page has ended (called once, by `run_page`).

        Its request body is dropped at once: a context a page's objects still refer to (a runtime's
        services for its pages, in a reference cycle of the page's own) goes only when the cycle collector
        runs, and a body held until then (a 256 KiB upload per request) grew the process by tens of MiB
        between collections. And the response lets go of the context: the two referred to each other, so
        every request's objects (the context, its exchanges, the request and its headers) were left to the
        cycle collector, whose passes then took several milliseconds each, every few hundred requests, and
        held up every request in flight while they ran."""
        self.closed = True
        if self.realtime is not None:
            self.realtime.close()
        if self._body is not None:
            self._body = b""
        del self.response.ctx  # nothing uses the response of a request that has ended

    @property
    def body_read(self) -> bool:
        return self._body is not None

    def body_nowait(self) -> bytes | None:
        return self._body

    async def receive_body(self) -> bytes:
        """The next chunk of the request body (b"" at its end).

        The exchange counts it against the site's body limit (413 beyond): the app's one check of it.
        """
        chunk = await self.exchange.receive()
        self._body_received += len(chunk)
        return chunk

    async def read_body(self) -> bytes:
        """The whole request body, read once and capped by the body limit (413 beyond)."""
        if self._body is None:
            parts: list[bytes] = []
            while chunk := await self.receive_body():
                parts.append(chunk)
            self._body = b"".join(parts)
        return self._body

    def form(self) -> dict[str, str]:
        """URL-encoded form fields of the (already read) body; first value of each."""
        ctype = self.request.headers.get("content-type", "") or ""
        body = self._body or b""
        if "application/x-www-form-urlencoded" not in ctype:
            return {}
        out: dict[str, str] = {}
        for k, v in parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True):
            out.setdefault(k, v)
        return out

    def json(self) -> Any:
        body = self._body or b""
        try:
            return json.loads(body) if body else None
        except ValueError as exc:
            raise HttpError(400, f"request body is not valid JSON: {exc}") from None

    def request_info(self) -> dict[str, Any]:
        """The request's scalar fields, as every binding exposes them."""
        r = self.request
        return {
            "method": r.method,
            "path": r.path,
            "query_string": r.query_string,
            "http_version": r.http_version,
            "scheme": r.scheme,
            "host": r.host,
            "client": r.client[0] if r.client else "",
            "client_port": r.client[1] if r.client else 0,
            "id": r.request_id,
        }
