"""The trio server: listeners, connection limit, graceful shutdown on SIGTERM/SIGINT, reload on SIGHUP (docs/operations.md)."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import logging
import signal
import socket
import ssl
from collections.abc import Callable
from typing import TYPE_CHECKING

import trio

from dynlan.config import Config, ConfigError, HttpConfig
from dynlan.http import Exchange, HttpError, RequestReceived
from dynlan.http._streams import PREFACE
from dynlan.server._access import AccessLog
from dynlan.server._control import ControlServer
from dynlan.server._h1conn import RECV_SIZE, App, H1Connection
from dynlan.server._operations import Operations
from dynlan.server._replay import ReplayCache
from dynlan.server._state import ServerState

if TYPE_CHECKING:
    from dynlan.http._h3proto import QuicRouter

log = logging.getLogger("dynlan")


MEMORY_TRIM_INTERVAL = 10.0
"""Seconds between two returns of the C heap's free pages to the system (`trim_memory`)."""


async def trim_memory() -> None:
    """Give the free pages of the C heap back to the system every `MEMORY_TRIM_INTERVAL`; runs for the server's life.

    glibc keeps what is freed inside its heaps, and a chunk still in use pins the free pages below the top of
    its heap: under mixed traffic a worker's RSS kept growing (+9 % in four minutes of `make soak`) while what
    it holds alive did not (the collector's object counts and tracemalloc stay flat). `malloc_trim(0)` releases
    the free pages of every arena (glibc 2.8 and later); with it the soak's RSS stays flat. Run in a thread:
    it takes the arenas' locks, not the event loop. Elsewhere than glibc there is nothing to call.
    """
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    while True:
        await trio.sleep(MEMORY_TRIM_INTERVAL)
        await trio.to_thread.run_sync(trim, 0)


class ListenError(Exception):
    """The listening socket could not be created (port in use, bad address)."""


def without_missing_protocols(http: HttpConfig) -> list[str]:
    """Turn HTTP/2 and HTTP/3 off when their package (the http2 or http3 extra) cannot be imported.

    HTTP/1.1 needs neither: the server still starts, ALPN then offers only what is served. Returns a line
    per protocol turned off, saying why.
    """
    off: list[str] = []
    if http.http2:
        try:
            import dynlan.http._h2proto  # noqa: F401  (h2, hyperframe)
        except ImportError as exc:
            http.http2 = False
            off.append(f"HTTP/2 is off: {exc} (install dynlan[http2] to serve it)")
    if http.http3:
        try:
            import dynlan.http._h3proto  # noqa: F401  (aioquic)
        except ImportError as exc:
            http.http3 = False
            off.append(f"HTTP/3 is off: {exc} (install dynlan[http3] to serve it)")
    return off


def bind_socket(
    host: str, port: int, *, reuse_port: bool, backlog: int, listen: bool = True, udp: bool = False,
) -> socket.socket:
    kind = socket.SOCK_DGRAM if udp else socket.SOCK_STREAM
    try:
        infos = socket.getaddrinfo(host, port, type=kind, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ListenError(f"cannot resolve host '{host}': {exc.strerror}") from None
    family, type_, proto, _, addr = infos[0]
    sock = socket.socket(family, type_, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(addr)
        if listen and not udp:
            sock.listen(backlog)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ListenError(f"port {port} on {host} is already in use") from None
        if exc.errno == errno.EACCES:
            raise ListenError(f"no permission to listen on {host}:{port}") from None
        raise ListenError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    return sock


class RedirectToHttps:
    """The plain-HTTP listener beside an HTTPS one: every request gets a 308 to its https:// URL."""

    def __init__(self, https_port: int) -> None:
        self.suffix = "" if https_port == 443 else f":{https_port}"

    async def handle(self, exchange: Exchange) -> None:
        request = exchange.request
        host = request.host or "localhost"
        host = host[: host.find("]") + 1] if host.startswith("[") else host.partition(":")[0]
        target = request.target if request.target.startswith("/") else "/"
        location = f"https://{host}{self.suffix}{target}"
        await exchange.respond(308, [("location", location), ("content-length", "0")], b"")


LAST_ANSWERS = 1.0
"""Seconds requests cut short at the end of the grace period get to send their 503 before connections close."""
OUT_OF_RESOURCES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
"""What `accept` fails with when the process or machine is out of descriptors or memory: a wait, not an end."""
ACCEPT_BACKOFF = 0.1
"""Seconds between tries to accept while out of resources."""


class _Answering:
    """The app as connections call it: each request is tracked, so a shutdown's end can cut it short.

    A request still running when the grace period ends gets 503 if its response has not started (RFC 9110
    §15.6.4); one that has started is broken off (the connection closes, or the stream is reset), never
    finished as if it were complete.
    """

    def __init__(self, app: App, state: ServerState) -> None:
        self.app = app
        self.state = state
        self.untracked = app
        """The app itself: an HTTP/1.1 connection tracks its request with its own scope, entered once per
        connection rather than once per request (`H1Connection`)."""

    async def handle(self, exchange: Exchange) -> None:
        with self.state.answering() as scope:
            await self.app.handle(exchange)
        if scope.cancelled_caught:
            raise HttpError(503, "the server is shutting down", close=True)


class Server:
    """Accepts connections and serves them until told to stop."""

    def __init__(
        self, config: Config, app: App, *, access: AccessLog | None = None, ssl_context: ssl.SSLContext | None = None,
        quic: QuicRouter | None = None, operations: Operations | None = None,
    ) -> None:
        self.config = config
        self.app = app
        self.operations = operations
        """What the control socket answers (`dynlan cache purge`, `dynlan reload`); None: no control socket."""
        self.state = ServerState()
        self._answering = _Answering(app, self.state)
        """What connections call: the app, with each request tracked for the end of a shutdown."""
        self._listening: list[socket.socket] = []
        self._redirect_listening: list[socket.socket] = []
        self.replaced_when_stopped: Callable[[], bool] = lambda: False
        """Whether another process takes over the listening sockets once this one stops (a worker whose
        supervisor goes on): then they keep listening through a shutdown, and what connects meanwhile waits
        in the backlog for that process."""
        self.access = access or AccessLog(enabled=config.server.access_log)
        self.limiter = trio.CapacityLimiter(config.server.max_connections)
        self._accept_scopes: list[trio.CancelScope] = []
        self._per_client: dict[str, int] = {}
        """Open connections by peer address, for `[server] max_connections_per_client`."""
        self.refused_per_client = 0
        self.ssl_context = ssl_context
        """Set: the main listeners speak HTTPS."""
        self._https_headers: list[tuple[str, str]] = []
        if config.tls.hsts_max_age > 0:
            self._https_headers.append(("strict-transport-security", f"max-age={config.tls.hsts_max_age}"))
        self.quic = quic
        """Set: HTTP/3 is served on the UDP socket given to serve()."""
        self._redirect = RedirectToHttps(config.server.port)
        """Answers connections on the plain-HTTP redirect port, if there is one."""
        self.replay = ReplayCache()
        """Kept answers of static files, for the main listeners' HTTP/1.1 connections (`dynlan.server._replay`)."""
        if operations is not None:
            operations.replay = self.replay

    def prepare_config(self, old: Config, new: Config) -> Callable[[], None]:
        """Check a reloaded config for this server (its certificates); what applies it (see `dynlan/app/_reload.py`).

        New connections get the new settings; open ones keep those they started with. The listening sockets,
        HTTP/2 and HTTP/3 on or off and TLS on or off need a restart (the reloader keeps them as they are).
        Certificate files are read again whether or not their names changed: renewed in place, they reload.
        """
        ssl_context = self.ssl_context
        quic_configuration = None
        if ssl_context is not None and new.tls.enabled:
            from dynlan.server._tls import certificate_files, make_server_context

            ssl_context = make_server_context(new.tls, new.http.http2)
            if self.quic is not None:
                from dynlan.http._h3proto import make_configuration

                try:
                    quic_configuration = make_configuration(*certificate_files(new.tls), self.quic.settings)
                except (ssl.SSLError, OSError, ValueError) as exc:
                    raise ConfigError(f"TLS: the certificate for HTTP/3 is not usable: {exc}") from None

        def commit() -> None:
            self.replay.clear()  # kept under the old sites, rules and settings
            self.config = new
            self.limiter.total_tokens = new.server.max_connections
            self.access.enabled = new.server.access_log
            self.ssl_context = ssl_context
            if self.quic is not None and quic_configuration is not None:
                self.quic.configuration = quic_configuration
            hsts = [("strict-transport-security", f"max-age={new.tls.hsts_max_age}")] if new.tls.hsts_max_age else []
            # The list is shared with open connections: changed in place.
            self._https_headers[:] = hsts + [h for h in self._https_headers if h[0] != "strict-transport-security"]

        return commit

    async def handle_stream(self, stream: trio.abc.Stream, client: tuple[str, int] | None, scheme: str = "http") -> None:
        """Serve one connection: TLS handshake and ALPN, or h2c detection, then HTTP/1.1 or HTTP/2."""
        self.state.connection_opened()
        http = self.config.http
        try:
            if isinstance(stream, trio.SSLStream):
                handshaken = False
                with self.state.opening(), trio.move_on_after(self.config.tls.handshake_timeout):
                    try:
                        await stream.do_handshake()
                        handshaken = True
                    except (trio.BrokenResourceError, trio.ClosedResourceError):
                        pass  # not TLS, a failed handshake, or the client left
                if not handshaken:
                    await trio.aclose_forcefully(stream)
                    return
                if http.http2 and stream.selected_alpn_protocol() == "h2":
                    await self._h2(stream, client, "https", self._https_headers)
                    return
                await H1Connection(stream, self._answering, http, self.state, self.access, client, "https",
                                   self._https_headers, replay=self.replay).serve()
                return
            if not http.http2:
                await H1Connection(stream, self._answering, http, self.state, self.access, client, scheme,
                                   replay=self.replay).serve()
                return
            initial = await self._peek(stream)
            if initial is None:
                return
            if initial.startswith(PREFACE):
                await self._h2(stream, client, scheme, [], initial=initial)
                return

            async def upgrade(request: RequestReceived, settings: bytes) -> None:
                await self._h2(stream, client, scheme, [], upgrade=(request, settings))

            await H1Connection(stream, self._answering, http, self.state, self.access, client, scheme,
                               initial=initial, upgrade_h2=upgrade, replay=self.replay).serve()
        finally:
            self.state.connection_closed()

    async def _h2(
        self, stream: trio.abc.Stream, client: tuple[str, int] | None, scheme: str, extra: list[tuple[str, str]],
        *, initial: bytes = b"", upgrade: tuple[RequestReceived, bytes] | None = None,
    ) -> None:
        # The http2 extra (h2), imported where it is used: `import dynlan.server` needs none.
        from dynlan.server._h2connection import H2Connection

        conn = H2Connection(stream, self._answering, self.config.http, self.state, self.access, client, scheme, extra,
                            initial=initial, upgrade=upgrade)
        await conn.serve()

    async def _peek(self, stream: trio.abc.Stream) -> bytes | None:
        """The first bytes of a plain connection: enough to tell the HTTP/2 preface from HTTP/1.1."""
        data = b""
        with self.state.opening(), trio.move_on_after(self.config.http.keepalive_timeout):
            try:
                while len(data) < len(PREFACE) and PREFACE.startswith(data):
                    chunk = await stream.receive_some(RECV_SIZE)
                    if not chunk:
                        break
                    data += chunk
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return None
        if not data:
            with trio.move_on_after(1):
                await stream.aclose()
            return None
        return data

    async def _serve_one(self, stream: trio.SocketStream, redirect: bool = False) -> None:
        address: str | None = None
        try:
            try:
                peer = stream.socket.getpeername()
                client: tuple[str, int] | None = (peer[0], peer[1])
            except OSError:
                client = None
            cap = self.config.server.max_connections_per_client
            if cap and client is not None:
                # One address holding every connection slot (a slowloris from one machine) would keep every other
                # client waiting in the backlog: past its share, its new connections are closed at once.
                held = self._per_client.get(client[0], 0)
                if held >= cap:
                    self.refused_per_client += 1
                    await trio.aclose_forcefully(stream)
                    return
                address = client[0]
                self._per_client[address] = held + 1
            if redirect:
                self.state.connection_opened()
                try:
                    await H1Connection(stream, self._redirect, self.config.http, self.state, self.access,
                                       client).serve()
                finally:
                    self.state.connection_closed()
            elif self.ssl_context is not None:
                ssl_stream = trio.SSLStream(stream, self.ssl_context, server_side=True, https_compatible=True)
                await self.handle_stream(ssl_stream, client, "https")
            else:
                await self.handle_stream(stream, client)
        except Exception:
            # A bug in one connection's handling must not stop the server.
            log.exception("connection from %s failed", client)
            await trio.aclose_forcefully(stream)
        finally:
            self.limiter.release_on_behalf_of(stream)
            if address is not None:
                held = self._per_client.pop(address, 1) - 1
                if held > 0:
                    self._per_client[address] = held

    async def accept_loop(self, listener: trio.SocketListener, nursery: trio.Nursery, redirect: bool = False) -> None:
        scope = trio.CancelScope()
        self._accept_scopes.append(scope)
        if self.state.shutting_down:
            scope.cancel()
        starved = False
        with scope:
            while True:
                # Take a slot before accepting: beyond max_connections, clients
                # wait in the kernel's listen backlog instead of being dropped.
                token = object()
                await self.limiter.acquire_on_behalf_of(token)
                try:
                    stream = await listener.accept()
                except OSError as exc:
                    if self.state.shutting_down:
                        # The socket stopped listening (`_stop_listening`) as this task woke to accept.
                        return
                    if exc.errno not in OUT_OF_RESOURCES:
                        raise
                    # Out of file descriptors or memory: the connections being served go on; new ones wait
                    # in the backlog a moment instead of the server stopping. Said once per spell.
                    if not starved:
                        starved = True
                        log.warning("cannot accept connections (%s): they wait in the backlog until the "
                                    "connections open now close", exc)
                    await trio.sleep(ACCEPT_BACKOFF)
                    continue
                finally:
                    self.limiter.release_on_behalf_of(token)
                if starved:
                    starved = False
                    log.warning("accepting connections again")
                self.limiter.acquire_on_behalf_of_nowait(stream)
                nursery.start_soon(self._serve_one, stream, redirect)

    async def shutdown(self, nursery: trio.Nursery) -> None:
        """Stop listening, close idle connections, give busy ones the grace period, then cut short what is left."""
        for scope in self._accept_scopes:
            scope.cancel()
        self.state.begin_shutdown()
        if not self.replaced_when_stopped():
            self._stop_listening(nursery)
        with trio.move_on_after(self.config.server.grace_period):
            await self.state.all_closed.wait()
        if not self.state.all_closed.is_set():
            cut = self.state.end_grace()
            if cut:
                log.info("grace period over: %d request%s still running end with 503 (or are broken off if their "
                         "response had started)", cut, "" if cut == 1 else "s")
            with trio.move_on_after(LAST_ANSWERS):
                await self.state.all_closed.wait()
        nursery.cancel_scope.cancel()

    def _stop_listening(self, nursery: trio.Nursery) -> None:
        """New connections are refused from now on, instead of waiting in the backlog for nobody.

        Connections already in the backlog are taken and served (with `Connection: close`); then
        shutdown(SHUT_RD) takes each listening socket out of the listening state (Linux), for every process
        that holds it: the supervisor's copy too, and with SO_REUSEPORT the kernel gives new connections to
        the other sockets of the port, if any still listen. A worker started later in the slot listens again.
        """
        for sock, redirect in [*((s, False) for s in self._listening), *((s, True) for s in self._redirect_listening)]:
            while True:
                try:
                    conn, _ = sock.accept()
                except OSError:
                    break  # empty (BlockingIOError), or not listening
                stream = trio.SocketStream(trio.socket.from_stdlib_socket(conn))
                try:
                    self.limiter.acquire_on_behalf_of_nowait(stream)
                except trio.WouldBlock:
                    conn.close()
                    continue
                nursery.start_soon(self._serve_one, stream, redirect)
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RD)

    async def serve(
        self,
        sockets: list[socket.socket],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
        on_ready: Callable[[], None] | None = None,
        handle_signals: bool = True,
        redirect_sockets: list[socket.socket] | None = None,
        udp_socket: socket.socket | None = None,
    ) -> None:
        # The standard sockets are kept: trio's wrap them (non-blocking), and a shutdown takes what waits in
        # their backlog without blocking.
        self._listening = list(sockets)
        self._redirect_listening = list(redirect_sockets or [])
        listeners = [trio.SocketListener(trio.socket.from_stdlib_socket(s)) for s in sockets]
        redirects = [trio.SocketListener(trio.socket.from_stdlib_socket(s)) for s in redirect_sockets or []]
        async with trio.open_nursery() as nursery:
            if handle_signals:
                await nursery.start(self._watch_signals, nursery)
            nursery.start_soon(self.access.run_flusher)
            nursery.start_soon(trim_memory)
            await self._start_control(nursery, sockets)
            for listener in listeners:
                nursery.start_soon(self.accept_loop, listener, nursery)
            for listener in redirects:
                nursery.start_soon(self.accept_loop, listener, nursery, True)
            if udp_socket is not None and self.quic is not None:
                # The http3 extra (aioquic), imported where it is used.
                from dynlan.server._h3server import H3Endpoint

                endpoint = H3Endpoint(udp_socket, self.quic, self._answering,
                                      self.config.http, self.state, self.access, self._https_headers)
                await nursery.start(endpoint.serve)
                # Browsers learn of HTTP/3 from responses over TCP (RFC 9114 §3.1.1).
                port = udp_socket.getsockname()[1]
                self._https_headers.append(("alt-svc", f'h3=":{port}"; ma=86400'))
            task_status.started()
            if on_ready is not None:
                on_ready()
        for listener in listeners + redirects:
            await listener.aclose()

    async def _start_control(self, nursery: trio.Nursery, sockets: list[socket.socket]) -> None:
        """The control socket, when this process has control operations (`dynlan cache purge`, `dynlan reload`)."""
        if self.operations is None or not self.config.server.control_socket or not sockets:
            return
        control = ControlServer(sockets[0].getsockname()[1], self.operations.handle)
        try:
            await nursery.start(control.serve)
        except OSError as exc:
            log.warning("no control socket, `dynlan cache purge` cannot reach this process: %s", exc)
            return
        set_broadcast = getattr(self.app, "set_broadcast", None)
        if set_broadcast is not None:
            set_broadcast(control.broadcast_nowait)

    @staticmethod
    async def _reload(operations: Operations) -> None:
        """SIGHUP's reload: the outcome is logged where it is decided; nothing it raises stops the server."""
        try:
            await operations.handle({"op": "reload"})
        except Exception:
            log.exception("reload failed")

    async def _watch_signals(self, nursery: trio.Nursery, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM, signal.SIGHUP) as signals:
            task_status.started()
            async for signum in signals:
                if signum == signal.SIGHUP:
                    # Reload, never stop (the default action of SIGHUP would end the process).
                    if self.operations is None or self.state.shutting_down:
                        log.info("SIGHUP: nothing to reload")
                    else:
                        nursery.start_soon(self._reload, self.operations)
                    continue
                if self.state.shutting_down:
                    # A second signal: stop now.
                    log.info("second signal: exiting at once")
                    nursery.cancel_scope.cancel()
                    return
                log.info("shutting down: finishing in-flight requests (up to %.0fs)", self.config.server.grace_period)
                nursery.start_soon(self.shutdown, nursery)
