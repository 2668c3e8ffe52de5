"""PHP pages through php-cgi over FastCGI, the way nginx + PHP-FPM runs them.

One pool of `php-cgi -b <socket>` processes per site (started on first use,
through `dynlan.sandboxes`), each serving one request at a time. Request
bodies stream in as FCGI_STDIN records; a body whose length only its end tells
(chunked, or HTTP/2 and HTTP/3 without content-length) is spooled first, since
PHP reads no more than CONTENT_LENGTH says. Output streams back: it is buffered
while PHP keeps producing and goes to the client as soon as PHP pauses (a
`flush()` in the page reaches the client). PHP's stderr goes to the log with
the request id. A PHP error (fatal, parse, memory or CPU limit) is a complete
FastCGI response and the process serves on; only a broken transport (EOF, a
reset, invalid FastCGI) or the wall-time budget costs a process. Pages reach
the host cache and files through a prelude (`_prelude.php`) that calls back
over a private Unix socket.
"""

from __future__ import annotations

import functools
import itertools
import json
import logging
import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from dynlan import SERVER_NAME
from dynlan.config import ConfigError
from dynlan.host import BudgetExceeded, CacheError, FsError, Host, PageContext, PageError, parse_ttl
from dynlan.http import HttpError
from dynlan.runtimes._interface import Availability, RuntimeConfig
from dynlan.runtimes.php._fastcgi import (
    CgiHeadParser,
    EndRequest,
    FastCGIConnection,
    FastCGIError,
    Stderr,
    Stdout,
    encode_pairs,
)
from dynlan.sandboxes import Limits, PoolError, ProcessPool, spawn

log = logging.getLogger("dynlan.php")

PRELUDE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_prelude.php")
REQUEST_ID = 1
PAUSE = 0.025
"""Seconds without new output after which what PHP wrote so far is sent (so flush() reaches the client).

Long enough that a page writing without pause, on a busy machine, is not taken as pausing (its
status would go out before an output budget could still turn it into a 500)."""
_CGI_HEADER = re.compile(r"HTTP_[A-Z0-9_]+")


@functools.lru_cache(maxsize=1024)
def _cgi_header(name: str) -> str | None:
    """The CGI variable for a request header (`HTTP_USER_AGENT`), or None for one PHP must not get."""
    if name in ("content-type", "content-length", "proxy", "transfer-encoding"):
        # httpoxy: a `Proxy` header must never become HTTP_PROXY. Transfer-Encoding framed the
        # message, not the body PHP gets (RFC 9112 §6.1): that one has a CONTENT_LENGTH.
        return None
    key = "HTTP_" + name.upper().replace("-", "_")
    return key if _CGI_HEADER.fullmatch(key) else None


@functools.lru_cache(maxsize=4096)
def _script_name(page: str, root: str) -> str:
    return "/" + os.path.relpath(page, root).replace(os.sep, "/")


_FATAL_LOCATION = re.compile(r" in (/[^\s:]+?)(?::| on line )(\d+)")
SPOOL_MEMORY = 64 * 1024
"""A body of unknown length is held in memory up to this many bytes, then in a temporary file."""
BODY_CHUNK = 256 * 1024
FIXED_INI = ("cgi.fix_pathinfo", "cgi.discard_path")
"""ini settings DynLan owns: with either changed, PHP would run PATH_TRANSLATED instead of SCRIPT_FILENAME."""

BodySource = Callable[[], Awaitable[bytes]]
"""The next chunk of a request body; b"" at its end."""


class PhpRuntime:
    name = "php"
    suffixes = (".php",)
    path_info = True
    """`/info.php/a/b` runs info.php with PATH_INFO `/a/b` (the router splits it; see `Router.split_path_info`)."""

    def __init__(self) -> None:
        self.binary = "php-cgi"
        self.processes = 2
        self.max_requests = 500
        self.ini: dict[str, str] = {}
        self.host: Host | None = None
        self.dev = False
        self._tmp = ""
        self._pools: dict[str, ProcessPool] = {}
        self._sockets: dict[int, str] = {}
        self._connections: dict[str, trio.SocketStream] = {}
        self._procs: dict[int, tuple[trio.Process, str]] = {}
        """Idle FastCGI connections, by php-cgi socket path."""
        self._tokens: dict[str, PageContext] = {}
        self._counter = 0
        self._token_key = secrets.token_hex(16)
        self._token_ids = itertools.count(1)
        self._page_param_cache: dict[tuple[str, str], bytes] = {}
        """(page file, site root) -> the encoded CGI variables that no request of the page changes."""
        self._start_error: str | None = None
        self.stats: dict[str, int] = {"requests": 0, "errors": 0, "killed": 0, "budget.memory": 0, "budget.time": 0,
                                      "budget.instructions": 0}

    def available(self) -> Availability:
        path = shutil.which(self.binary)
        if path is None:
            return Availability(False, reason="php-cgi not found: apt-get install php-cgi")
        return Availability(True, version=f"php-cgi ({path})")

    def configure(self, cfg: RuntimeConfig) -> None:
        self.dev = cfg.dev
        for key, value in cfg.options.items():
            if key == "processes" or key == "max_requests":
                if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                    raise ConfigError(f"php.{key}: expected a positive integer, got {value!r}")
                setattr(self, key, value)
            elif key == "binary":
                if not isinstance(value, str):
                    raise ConfigError(f"php.binary: expected a string, got {value!r}")
                self.binary = value
            elif key == "ini":
                if not isinstance(value, dict) or not all(isinstance(v, str | int | float | bool) for v in value.values()):
                    raise ConfigError("php.ini: expected a table of ini settings")
                self.ini = {str(k): str(v) for k, v in value.items()}
                fixed = sorted(set(self.ini) & set(FIXED_INI))
                if fixed:
                    raise ConfigError(f"php.ini.{fixed[0]}: set by DynLan, which splits PATH_INFO itself")
            else:
                raise ConfigError(f"unknown key 'php.{key}'")

    async def start(self, host: Host) -> None:
        self.host = host
        self._tmp = tempfile.mkdtemp(prefix="dynlan-php-")
        os.mkdir(os.path.join(self._tmp, "sessions"), 0o700)
        self.host_socket = os.path.join(self._tmp, "host.sock")
        sock = trio.socket.socket(trio.socket.AF_UNIX, trio.socket.SOCK_STREAM)
        await sock.bind(self.host_socket)
        os.chmod(self.host_socket, 0o600)  # the folder is 0700 too: only our user's php-cgi reaches it
        sock.listen(64)
        listener = trio.SocketListener(sock)
        assert host.nursery is not None
        host.nursery.start_soon(trio.serve_listeners, self._serve_callback, [listener])

    async def aclose(self) -> None:
        for stream in self._connections.values():
            await trio.aclose_forcefully(stream)
        self._connections.clear()
        for pool in self._pools.values():
            await pool.aclose()
        self._pools.clear()
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)

    def statistics(self) -> dict[str, int | float]:
        out: dict[str, int | float] = dict(self.stats)
        for pool in self._pools.values():
            for k, v in pool.statistics().items():
                out[f"pool.{k}"] = out.get(f"pool.{k}", 0) + v
        return out

    # -- the pool ------------------------------------------------------------

    def _pool(self, ctx: PageContext) -> ProcessPool:
        root = ctx.fs.root
        pool = self._pools.get(root)
        if pool is not None:
            return pool
        limits = ctx.limits
        ini = {
            "auto_prepend_file": PRELUDE,
            "display_errors": "0",
            "log_errors": "1",
            "html_errors": "0",
            "memory_limit": str(limits.memory),
            "max_execution_time": str(max(1, int(limits.wall_time))),
            "output_buffering": "0",
            "implicit_flush": "0",
            "expose_php": "0",
            # PHP_SELF = SCRIPT_NAME + PATH_INFO only with fix_pathinfo=1; with 0, PHP would run
            # PATH_TRANSLATED (`/info.php/uploads/image.jpg` would run the upload). Its own guessing
            # (walking back from a missing SCRIPT_FILENAME to `image.jpg`, the nginx/PHP upload attack)
            # never starts: SCRIPT_FILENAME is always a page file the router found.
            "cgi.fix_pathinfo": "1",
            "cgi.discard_path": "0",
            "session.save_path": os.path.join(self._tmp, "sessions"),
            "upload_tmp_dir": self._tmp,
            "post_max_size": str(ctx.max_body_size),
            "upload_max_filesize": str(ctx.max_body_size),
            **self.ini,
        }
        binary = shutil.which(self.binary)
        if binary is None:
            raise PageError("php-cgi not found: apt-get install php-cgi")

        async def start() -> trio.Process:
            self._counter += 1
            path = os.path.join(self._tmp, f"php-{self._counter}.sock")
            argv = [binary, "-b", path]
            for k, v in ini.items():
                argv += ["-d", f"{k}={v}"]
            env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PHP_FCGI_CHILDREN": "0",
                   "PHP_FCGI_MAX_REQUESTS": str(self.max_requests + 1), "LANG": "C.UTF-8"}
            proc = await spawn(argv, cwd=root, env=env, limits=Limits(max_open_files=1024), stderr=None)
            with trio.move_on_after(10):
                while not os.path.exists(path):
                    if proc.returncode is not None:
                        break
                    await trio.sleep(0.01)
            if not os.path.exists(path):
                proc.kill()
                raise OSError(f"php-cgi did not start (exit status {proc.returncode})")
            # Forget the sockets (and idle connections) of processes that have ended.
            for pid, (old_proc, old_path) in list(self._procs.items()):
                if old_proc.returncode is not None:
                    del self._procs[pid]
                    self._sockets.pop(pid, None)
                    stale = self._connections.pop(old_path, None)
                    if stale is not None:
                        await trio.aclose_forcefully(stale)
            self._sockets[proc.pid] = path
            self._procs[proc.pid] = (proc, path)
            return proc

        pool = ProcessPool(start, size=self.processes, max_requests=self.max_requests)
        self._pools[root] = pool
        return pool

    # -- a request -------------------------------------------------------------

    def _params(self, ctx: PageContext, token: str, length: int) -> bytes:
        """The request's CGI variables as FastCGI name-value pairs; what no request changes is encoded once."""
        r = ctx.request
        host = r.host
        bare_host = ":" in host and not host.endswith("]")
        # As the request carried them (latin-1 round-trips the bytes).
        env: dict[str, str] = {
            # As nginx passes it: HTTP/1.1, HTTP/2.0, HTTP/3.0.
            "SERVER_PROTOCOL": f"HTTP/{r.http_version}" if "." in r.http_version else f"HTTP/{r.http_version}.0",
            "SERVER_NAME": host.rpartition(":")[0] if bare_host else host,
            "SERVER_PORT": host.rpartition(":")[2] if bare_host else ("443" if r.scheme == "https" else "80"),
            "REQUEST_METHOD": r.method,
            "REQUEST_URI": r.target if r.target.startswith("/") else r.path + (f"?{r.query_string}" if r.query_string else ""),
            "QUERY_STRING": r.query_string,
            "DOCUMENT_URI": r.path,
            "REMOTE_ADDR": r.client[0] if r.client else "",
            "REMOTE_PORT": str(r.client[1]) if r.client else "",
            "DYNLAN_TOKEN": token,
            "DYNLAN_REQUEST_ID": r.request_id,
        }
        if r.scheme == "https":
            env["HTTPS"] = "on"
        ctype = r.headers.get("content-type")
        if ctype is not None:
            env["CONTENT_TYPE"] = ctype
        if length or "content-length" in r.headers:
            env["CONTENT_LENGTH"] = str(length)
        for name, value in r.headers.as_dict().items():
            key = _cgi_header(name)
            if key is not None:
                env[key] = value
        # Decoded paths and route parameters: UTF-8, as the file system and nginx pass them.
        decoded: dict[str, str] = {"PHP_SELF": _script_name(ctx.page, ctx.fs.root) + ctx.path_info,
                                   "PATH_INFO": ctx.path_info}
        if ctx.path_info:
            # RFC 3875 §4.1.6: the path info mapped onto the document root; left out without path info.
            decoded["PATH_TRANSLATED"] = ctx.fs.root + ctx.path_info
        for name, value in ctx.params.items():
            decoded[f"DYNLAN_PARAM_{name}"] = value
        return (self._page_params(ctx.page, ctx.fs.root)
                + encode_pairs([(k.encode("latin-1"), v.encode("latin-1", "replace")) for k, v in env.items()])
                + encode_pairs([(os.fsencode(k), os.fsencode(v)) for k, v in decoded.items()]))

    def _page_params(self, page: str, root: str) -> bytes:
        """The CGI variables every request shares, and those of one page's requests: encoded once."""
        data = self._page_param_cache.get((page, root))
        if data is None:
            data = self._page_param_cache[page, root] = encode_pairs([(k.encode(), os.fsencode(v)) for k, v in (
                ("GATEWAY_INTERFACE", "CGI/1.1"), ("SERVER_SOFTWARE", SERVER_NAME), ("REDIRECT_STATUS", "200"),
                ("DYNLAN_HOST_SOCKET", self.host_socket), ("SCRIPT_FILENAME", page),
                ("SCRIPT_NAME", _script_name(page, root)), ("DOCUMENT_ROOT", root))])
        return data

    async def handle(self, ctx: PageContext) -> None:
        self.stats["requests"] += 1
        pool = self._pool(ctx)
        length = ctx.body_length
        if ctx.body_read or length == 0:
            body = ctx.body_nowait() or b""
            await self._run(ctx, pool, body, len(body))
        elif length is not None:
            if length > ctx.max_body_size:
                raise HttpError(413, "request body too large", close=True)
            await self._run(ctx, pool, ctx.receive_body, length)  # streamed: an upload is never held whole
        else:
            # PHP reads no more of a body than CONTENT_LENGTH says, so a body whose length only its end
            # tells is read whole first, as nginx does before it calls PHP-FPM: in memory up to
            # SPOOL_MEMORY, then in a temporary file, never past max_body_size (413). No php-cgi
            # process is held while a slow client sends it.
            with tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY, dir=self._tmp) as spool:
                file = trio.wrap_file(spool)
                size = 0
                while chunk := await ctx.receive_body():
                    await file.write(chunk)
                    size += len(chunk)
                await file.seek(0)
                source = await file.read() if size <= SPOOL_MEMORY else functools.partial(file.read, BODY_CHUNK)
                await self._run(ctx, pool, source, size)

    async def _run(self, ctx: PageContext, pool: ProcessPool, body: bytes | BodySource, length: int) -> None:
        # Unguessable (a random key) and unique (a counter) without a random draw per request.
        token = f"{self._token_key}{next(self._token_ids):x}"
        self._tokens[token] = ctx
        outcome: tuple[CgiHeadParser, str] | None = None
        try:
            async with pool.lease() as worker:
                path = self._sockets.get(worker.pid)
                if path is None:
                    raise PageError("php-cgi worker has no socket")
                with trio.move_on_after(max(0.1, ctx.limits.wall_time - 0.05)) as wall:
                    try:
                        outcome = await self._exchange(ctx, path, self._params(ctx, token, length), body)
                    except (trio.BrokenResourceError, trio.ClosedResourceError):
                        # The php-cgi process went away mid-request (it crashed or was killed).
                        raise PoolError("php-cgi closed the connection mid-request") from None
                if wall.cancelled_caught:
                    pool.kill(worker)
                    self.stats["killed"] += 1
                    self.stats["budget.time"] += 1
                    exc = BudgetExceeded("time", f"PHP page ran past its time budget of {ctx.limits.wall_time:g} s")
                    exc.status = 504
                    raise exc
        except PoolError as exc:
            self.stats["errors"] += 1
            raise PageError(f"php-cgi failed: {exc}") from None
        except OSError as exc:
            self.stats["errors"] += 1
            raise PageError(f"php-cgi is not reachable: {exc}") from None
        finally:
            self._tokens.pop(token, None)
        # FCGI_END_REQUEST came: whatever PHP reported (a fatal or parse error, its memory or CPU
        # limit) ended a complete response, so the errors are judged outside the lease and the
        # process, and its connection, serve the next request (as PHP-FPM's workers do).
        assert outcome is not None
        head, errors = outcome
        self._check_errors(ctx, errors)
        if head.head is None:
            raise PageError("php-cgi sent no response head", errors)
        self._apply_head(ctx, head)

    async def _exchange(self, ctx: PageContext, path: str, params: bytes,
                        body: bytes | BodySource) -> tuple[CgiHeadParser, str]:
        """One request on php-cgi's connection: the response head and what PHP wrote to stderr."""
        # One FastCGI connection per php-cgi process, kept open between requests
        # (FCGI_KEEP_CONN): no connect and accept per request.
        stream = self._connections.pop(path, None)
        if stream is None:
            stream = await trio.open_unix_socket(path)
        reusable = False
        try:
            fcgi = FastCGIConnection()
            head = fcgi.begin_request(REQUEST_ID, keep_conn=True) + fcgi.params_data(REQUEST_ID, params)
            if isinstance(body, bytes):
                # Most requests: the whole request in one write, no body task.
                await stream.send_all(head + (FastCGIConnection.stdin(REQUEST_ID, body) if body else b"")
                                      + FastCGIConnection.stdin(REQUEST_ID, b""))
                outcome = await self._read_response(ctx, stream, fcgi)
            else:
                await stream.send_all(head)
                # Raised below, outside the nursery (no exception group): the body's failure (413,
                # 408, a client gone) as the client should hear it, or the response's.
                failures: list[Exception] = []
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._send_body, stream, body, failures, nursery.cancel_scope)
                    try:
                        outcome = await self._read_response(ctx, stream, fcgi)
                    except Exception as exc:
                        failures.append(exc)
                    nursery.cancel_scope.cancel()
                if failures:
                    raise failures[0]
            reusable = True
        finally:
            # A connection left mid-response (an error, a timeout) is never reused.
            if reusable and path not in self._connections:
                self._connections[path] = stream
            else:
                with trio.CancelScope(shield=True):
                    await trio.aclose_forcefully(stream)
        return outcome

    @staticmethod
    async def _send_body(stream: trio.SocketStream, body: BodySource, failures: list[Exception],
                         exchange: trio.CancelScope) -> None:
        """Send the request body to PHP as it comes from `body` (a body is never held whole here).

        A failure to get the body ends the whole exchange (`exchange` is its scope), since PHP
        would wait for the rest of the body forever.
        """
        try:
            while chunk := await body():
                await stream.send_all(FastCGIConnection.stdin(REQUEST_ID, chunk))
            await stream.send_all(FastCGIConnection.stdin(REQUEST_ID, b""))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # PHP answered without reading everything
        except Exception as exc:
            failures.append(exc)
            exchange.cancel()

    async def _read_response(self, ctx: PageContext, stream: trio.SocketStream,
                             fcgi: FastCGIConnection) -> tuple[CgiHeadParser, str]:
        head = CgiHeadParser()
        stderr: list[str] = []
        pending = False
        ended = False
        while not ended:
            data = b""
            if pending:
                with trio.move_on_after(PAUSE):
                    data = await stream.receive_some(65536)
                if not data:
                    if head.head is None:
                        pending = False
                        continue
                    # PHP paused (flush(), a slow page): send what it wrote so far.
                    self._apply_head(ctx, head)
                    await ctx.response.flush()
                    pending = False
                    continue
            else:
                data = await stream.receive_some(65536)
                if not data:
                    raise PageError("php-cgi closed the connection before ending the request")
            fcgi.receive_data(data)
            while True:
                try:
                    event = fcgi.next_event()
                except FastCGIError as exc:
                    raise PageError(f"php-cgi sent invalid FastCGI: {exc}") from None
                if event is None:
                    break
                if isinstance(event, Stdout):
                    try:
                        body = head.feed(event.data)
                    except FastCGIError as exc:
                        raise PageError(str(exc)) from None
                    if body:
                        ctx.response.write(body)
                    pending = True
                elif isinstance(event, Stderr):
                    text = event.data.decode("utf-8", "replace")
                    stderr.append(text)
                    for line in text.rstrip().splitlines():
                        log.warning("[%s] %s: %s", ctx.request.request_id, ctx.page_name, line)
                elif isinstance(event, EndRequest):
                    ended = True
        return head, "".join(stderr)

    def _apply_head(self, ctx: PageContext, head: CgiHeadParser) -> None:
        response = ctx.response
        if response.streaming or head.head is None:
            return
        response.set_status(head.head.status)
        response.headers.remove("content-type")
        for name, value in head.head.headers:
            if name in ("content-length", "transfer-encoding", "connection"):
                continue  # framing is the server's
            response.add_header(name, value)

    def _check_errors(self, ctx: PageContext, errors: str) -> None:
        if "Allowed memory size of" in errors:
            self.stats["budget.memory"] += 1
            raise BudgetExceeded("memory", "PHP page used more than its memory budget (memory_limit)")
        if "Maximum execution time of" in errors:
            self.stats["budget.instructions"] += 1
            raise BudgetExceeded("instructions", "PHP page used more than its CPU budget (max_execution_time)")
        if "PHP Fatal error" in errors or "PHP Parse error" in errors:
            self.stats["errors"] += 1
            first = next((line for line in errors.splitlines() if "PHP Fatal error" in line or "PHP Parse error" in line), errors)
            message = first.split("error:", 1)[-1].strip()
            match = _FATAL_LOCATION.search(errors)
            file, line = (match.group(1), int(match.group(2))) if match else (None, None)
            raise PageError(message, errors.replace(ctx.fs.root + os.sep, ""), file, line)

    # -- host API callbacks from the prelude ---------------------------------------

    async def _serve_callback(self, stream: trio.SocketStream) -> None:
        buffer = b""
        async with stream:
            while True:
                try:
                    data = await stream.receive_some(65536)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    return
                if not data:
                    return
                buffer += data
                if len(buffer) > 64 * 1024 * 1024:
                    return
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    reply = await self._callback(line)
                    try:
                        await stream.send_all(json.dumps(reply, separators=(",", ":")).encode() + b"\n")
                    except (trio.BrokenResourceError, trio.ClosedResourceError):
                        return

    async def _callback(self, line: bytes) -> dict[str, Any]:
        try:
            message = json.loads(line)
            ctx = self._tokens.get(str(message.get("token", "")))
            if ctx is None:
                return {"ok": False, "error": "unknown or finished request"}
            op = str(message.get("op", ""))
            args = message.get("args") or []
            if not isinstance(args, list):
                return {"ok": False, "error": "bad arguments"}
            return {"ok": True, "value": await _host_call(ctx, op, args)}
        except (ValueError, TypeError, CacheError, FsError, KeyError) as exc:
            return {"ok": False, "error": str(exc)}


async def _host_call(ctx: PageContext, op: str, args: list[Any]) -> Any:
    def arg(i: int, default: Any = None) -> Any:
        return args[i] if len(args) > i else default

    cache = ctx.cache
    if op == "cache_response":
        opts = arg(1) or {}
        if not isinstance(opts, dict):
            raise ValueError("dynlan_cache_response options must be an array with keys")
        unknown = set(opts) - {"vary", "tags", "query", "stale_if_error"}
        if unknown:
            raise ValueError(f"unknown dynlan_cache_response option '{sorted(unknown)[0]}'")
        ctx.cache_response(arg(0), opts.get("vary"), opts.get("tags"), opts.get("query"), opts.get("stale_if_error"))
        return True
    if op == "cache_purge":
        what = arg(0)
        if isinstance(what, dict):
            return ctx.purge(what.get("path"), what.get("tag"))
        return ctx.purge(path=what)
    if op == "cache_get":
        return await cache.get(str(arg(0)))
    if op == "cache_set":
        await cache.set(str(arg(0)), arg(1), parse_ttl(arg(2)))
        return True
    if op == "cache_delete":
        return await cache.delete(str(arg(0)))
    if op == "cache_incr":
        n = arg(1, 1)
        if isinstance(n, bool) or not isinstance(n, int | float):
            raise ValueError("incr amount must be a number")
        return await cache.incr(str(arg(0)), n, parse_ttl(arg(2)))
    if op == "fs_read":
        return ctx.fs.read(str(arg(0)))
    if op == "fs_exists":
        return ctx.fs.exists(str(arg(0)))
    if op == "fs_list":
        return ctx.fs.list(str(arg(0, ".")))
    if op == "fs_stat":
        info = ctx.fs.stat(str(arg(0)))
        return None if info is None else {"name": info.name, "size": info.size, "mtime": info.mtime, "is_dir": info.is_dir}
    if op == "log":
        ctx.log.at(str(arg(0, "info")), str(arg(1, "")))
        return None
    raise ValueError(f"unknown host call {op!r}")
