"""The trio server: listeners, connection limit, graceful shutdown on signals."""

from __future__ import annotations

import errno
import logging
import signal
import socket
from collections.abc import Callable

import trio

from dynlan.config import Config
from dynlan.server._access import AccessLog
from dynlan.server._control import ControlServer
from dynlan.server._h1conn import App, H1Connection
from dynlan.server._state import ServerState

log = logging.getLogger("dynlan")


class ListenError(Exception):
    """The listening socket could not be created (port in use, bad address)."""


def bind_socket(host: str, port: int, *, reuse_port: bool, backlog: int, listen: bool = True) -> socket.socket:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
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
        if listen:
            sock.listen(backlog)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ListenError(f"port {port} on {host} is already in use") from None
        if exc.errno == errno.EACCES:
            raise ListenError(f"no permission to listen on {host}:{port}") from None
        raise ListenError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    return sock


class Server:
    """Accepts connections and serves them until told to stop."""

    def __init__(self, config: Config, app: App, *, access: AccessLog | None = None) -> None:
        self.config = config
        self.app = app
        self.state = ServerState()
        self.access = access or AccessLog(enabled=config.server.access_log)
        self.limiter = trio.CapacityLimiter(config.server.max_connections)
        self._accept_scope = trio.CancelScope()

    async def handle_stream(self, stream: trio.abc.Stream, client: tuple[str, int] | None, scheme: str = "http") -> None:
        self.state.connection_opened()
        try:
            conn = H1Connection(stream, self.app, self.config.http, self.state, self.access, client, scheme)
            await conn.serve()
        finally:
            self.state.connection_closed()

    async def _serve_one(self, stream: trio.SocketStream) -> None:
        try:
            try:
                peer = stream.socket.getpeername()
                client: tuple[str, int] | None = (peer[0], peer[1])
            except OSError:
                client = None
            await self.handle_stream(stream, client)
        finally:
            self.limiter.release_on_behalf_of(stream)

    async def accept_loop(self, listener: trio.SocketListener, nursery: trio.Nursery) -> None:
        with self._accept_scope:
            while True:
                # Take a slot before accepting: beyond max_connections, clients
                # wait in the kernel's listen backlog instead of being dropped.
                token = object()
                await self.limiter.acquire_on_behalf_of(token)
                try:
                    stream = await listener.accept()
                except BaseException:
                    self.limiter.release_on_behalf_of(token)
                    raise
                self.limiter.release_on_behalf_of(token)
                self.limiter.acquire_on_behalf_of_nowait(stream)
                nursery.start_soon(self._serve_one, stream)

    async def shutdown(self, nursery: trio.Nursery) -> None:
        """Stop accepting, close idle connections, give busy ones the grace period."""
        self._accept_scope.cancel()
        self.state.begin_shutdown()
        with trio.move_on_after(self.config.server.grace_period):
            await self.state.all_closed.wait()
        nursery.cancel_scope.cancel()

    async def serve(
        self,
        sockets: list[socket.socket],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
        on_ready: Callable[[], None] | None = None,
        handle_signals: bool = True,
    ) -> None:
        listeners = [trio.SocketListener(trio.socket.from_stdlib_socket(s)) for s in sockets]
        async with trio.open_nursery() as nursery:
            if handle_signals:
                await nursery.start(self._watch_signals, nursery)
            nursery.start_soon(self.access.run_flusher)
            await self._start_control(nursery, sockets)
            for listener in listeners:
                nursery.start_soon(self.accept_loop, listener, nursery)
            task_status.started()
            if on_ready is not None:
                on_ready()
        for listener in listeners:
            await listener.aclose()

    async def _start_control(self, nursery: trio.Nursery, sockets: list[socket.socket]) -> None:
        """The control socket, when the app takes control messages (`dynlan cache purge`)."""
        handler = getattr(self.app, "control", None)
        if handler is None or not self.config.server.control_socket or not sockets:
            return
        control = ControlServer(sockets[0].getsockname()[1], handler)
        try:
            await nursery.start(control.serve)
        except OSError as exc:
            log.warning("no control socket, `dynlan cache purge` cannot reach this process: %s", exc)
            return
        set_broadcast = getattr(self.app, "set_broadcast", None)
        if set_broadcast is not None:
            set_broadcast(control.broadcast_nowait)

    async def _watch_signals(self, nursery: trio.Nursery, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            task_status.started()
            async for _ in signals:
                if self.state.shutting_down:
                    # A second signal: stop now.
                    log.info("second signal: exiting at once")
                    nursery.cancel_scope.cancel()
                    return
                log.info("shutting down: finishing in-flight requests (up to %.0fs)", self.config.server.grace_period)
                nursery.start_soon(self.shutdown, nursery)
