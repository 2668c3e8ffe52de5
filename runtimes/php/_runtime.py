"""PHP pages through php-cgi over FastCGI, the way nginx + PHP-FPM runs them.

One pool of `php-cgi -b <socket>` processes per site (started on first use,
through `dynlan.sandboxes`), each serving one request at a time. Request
bodies stream in as FCGI_STDIN records; output streams back: it is buffered
while PHP keeps producing and goes to the client as soon as PHP pauses (a
`flush()` in the page reaches the client). PHP's stderr goes to the log with
the request id. Pages reach the host cache and files through a prelude
(`_prelude.php`) that calls back over a private Unix socket.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import shutil
import tempfile
from typing import Any

import trio

from dynlan import SERVER_NAME
from dynlan.config import ConfigError
from dynlan.host import BudgetExceeded, CacheError, FsError, Host, PageContext, PageError, parse_ttl
from dynlan.runtimes._interface import Availability, RuntimeConfig
from dynlan.runtimes.php._fastcgi import (
    CgiHeadParser,
    EndRequest,
    FastCGIConnection,
    FastCGIError,
    Stderr,
    Stdout,
)
from dynlan.sandboxes import Limits, PoolError, ProcessPool, spawn

log = logging.getLogger("dynlan.php")

PRELUDE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_prelude.php")
REQUEST_ID = 1
PAUSE = 0.005
"""Seconds without new output after which what PHP wrote so far is sent (so flush() reaches the client)."""
_FATAL_LOCATION = re.compile(r" in (/[^\s:]+?)(?::| on line )(\d+)")


class PhpRuntime:
    name = "php"
    suffixes = (".php",)

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
            "cgi.fix_pathinfo": "0",
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

    def _params(self, ctx: PageContext, token: str) -> list[tuple[bytes, bytes]]:
        r = ctx.request
        site_root = ctx.fs.root
        script_name = "/" + os.path.relpath(ctx.page, site_root).replace(os.sep, "/")
        server_port = r.host.rpartition(":")[2] if ":" in r.host and not r.host.endswith("]") else ("443" if r.scheme == "https" else "80")
        env: dict[str, str] = {
            "GATEWAY_INTERFACE": "CGI/1.1",
            "SERVER_SOFTWARE": SERVER_NAME,
            # As nginx passes it: HTTP/1.1, HTTP/2.0, HTTP/3.0.
            "SERVER_PROTOCOL": f"HTTP/{r.http_version}" if "." in r.http_version else f"HTTP/{r.http_version}.0",
            "SERVER_NAME": r.host.rpartition(":")[0] if ":" in r.host and not r.host.endswith("]") else r.host,
            "SERVER_PORT": server_port,
            "REQUEST_METHOD": r.method,
            "REQUEST_URI": r.target if r.target.startswith("/") else r.path + (f"?{r.query_string}" if r.query_string else ""),
            "QUERY_STRING": r.query_string,
            "SCRIPT_FILENAME": ctx.page,
            "SCRIPT_NAME": script_name,
            "PHP_SELF": script_name,
            "PATH_INFO": "",
            "DOCUMENT_ROOT": site_root,
            "DOCUMENT_URI": r.path,
            "REMOTE_ADDR": r.client[0] if r.client else "",
            "REMOTE_PORT": str(r.client[1]) if r.client else "",
            "REDIRECT_STATUS": "200",
            "DYNLAN_TOKEN": token,
            "DYNLAN_HOST_SOCKET": self.host_socket,
            "DYNLAN_REQUEST_ID": r.request_id,
        }
        if r.scheme == "https":
            env["HTTPS"] = "on"
        ctype = r.headers.get("content-type")
        if ctype is not None:
            env["CONTENT_TYPE"] = ctype
        length = r.headers.get("content-length")
        if length is not None:
            env["CONTENT_LENGTH"] = length
        for name, value in ctx.params.items():
            env[f"DYNLAN_PARAM_{name}"] = value
        for name, value in r.headers.as_dict().items():
            if name in ("content-type", "content-length", "proxy"):
                # httpoxy: a `Proxy` header must never become HTTP_PROXY.
                continue
            key = "HTTP_" + name.upper().replace("-", "_")
            if not re.fullmatch(r"HTTP_[A-Z0-9_]+", key):
                continue
            env[key] = value
        return [(k.encode("latin-1"), v.encode("latin-1", "replace")) for k, v in env.items()]

    async def handle(self, ctx: PageContext) -> None:
        self.stats["requests"] += 1
        pool = self._pool(ctx)
        token = secrets.token_hex(16)
        self._tokens[token] = ctx
        try:
            async with pool.lease() as worker:
                path = self._sockets.get(worker.pid)
                if path is None:
                    raise PageError("php-cgi worker has no socket")
                with trio.move_on_after(max(0.1, ctx.limits.wall_time - 0.05)) as wall:
                    try:
                        await self._exchange(ctx, path, token)
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

    async def _exchange(self, ctx: PageContext, path: str, token: str) -> None:
        # One FastCGI connection per php-cgi process, kept open between requests
        # (FCGI_KEEP_CONN): no connect and accept per request.
        stream = self._connections.pop(path, None)
        if stream is None:
            stream = await trio.open_unix_socket(path)
        reusable = False
        try:
            fcgi = FastCGIConnection()
            head = fcgi.begin_request(REQUEST_ID, keep_conn=True) + fcgi.params(REQUEST_ID, self._params(ctx, token))
            if not ctx.has_body or ctx.body_read:
                # Most requests: the whole request in one write, no body task.
                body = ctx.body_nowait() or b""
                await stream.send_all(head + (FastCGIConnection.stdin(REQUEST_ID, body) if body else b"")
                                      + FastCGIConnection.stdin(REQUEST_ID, b""))
                await self._read_response(ctx, stream, fcgi)
            else:
                await stream.send_all(head)
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._send_body, ctx, stream)
                    failure: Exception | None = None
                    try:
                        await self._read_response(ctx, stream, fcgi)
                    except Exception as exc:  # raised below, outside the nursery (no exception group)
                        failure = exc
                    nursery.cancel_scope.cancel()
                if failure is not None:
                    raise failure
            reusable = True
        finally:
            # A connection left mid-response (an error, a timeout) is never reused.
            if reusable and path not in self._connections:
                self._connections[path] = stream
            else:
                with trio.CancelScope(shield=True):
                    await trio.aclose_forcefully(stream)

    async def _send_body(self, ctx: PageContext, stream: trio.SocketStream) -> None:
        """Stream the request body to PHP as it arrives (an upload is never held whole)."""
        try:
            if ctx.body_read:
                body = ctx.body_nowait() or b""
                if body:
                    await stream.send_all(FastCGIConnection.stdin(REQUEST_ID, body))
            else:
                while True:
                    chunk = await ctx.exchange.receive()
                    if not chunk:
                        break
                    await stream.send_all(FastCGIConnection.stdin(REQUEST_ID, chunk))
            await stream.send_all(FastCGIConnection.stdin(REQUEST_ID, b""))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # PHP answered without reading everything

    async def _read_response(self, ctx: PageContext, stream: trio.SocketStream, fcgi: FastCGIConnection) -> None:
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
        errors = "".join(stderr)
        self._check_errors(ctx, head, errors)
        if head.head is None:
            raise PageError("php-cgi sent no response head", errors)
        self._apply_head(ctx, head)

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

    def _check_errors(self, ctx: PageContext, head: CgiHeadParser, errors: str) -> None:
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
