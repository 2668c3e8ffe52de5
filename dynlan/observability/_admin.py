"""The admin listener: `/metrics`, `/healthz`, `/readyz` and the `/admin` dashboard, served by the supervisor.

The supervisor asks each worker for its snapshot over the worker's control socket (the `metrics` operation,
`_worker.py`) once a second, and again when `/metrics` or `/readyz` is asked, so what it shows covers every
worker. Off by default (`[admin] listen`, `--admin ADDR`); off loopback a bearer token is required.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import socket
from http.cookies import CookieError, SimpleCookie
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import CollectorRegistry

from dynlan.config import HttpConfig
from dynlan.http import Exchange
from dynlan.observability._aggregate import Aggregator, WorkerView
from dynlan.observability._dashboard import DASHBOARD
from dynlan.observability._metrics import resident_bytes
from dynlan.observability._worker import WorkerClient

if TYPE_CHECKING:
    from dynlan.server._workers import Supervisor

log = logging.getLogger("dynlan")

POLL_INTERVAL = 1.0
"""Seconds between two polls of the workers (the dashboard's resolution)."""
COOKIE = "dynlan_admin"
INFLIGHT_SHOWN = 50


class AdminServer:
    """Serves the admin listener's socket for the supervisor's life; polls the workers meanwhile."""

    def __init__(self, sock: socket.socket, token: str, supervisor: Supervisor, folder: Path) -> None:
        self.sock = sock
        self.token = token
        self.supervisor = supervisor
        self.client = WorkerClient(folder)
        self.aggregator = Aggregator()
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self.aggregator)
        self.http = HttpConfig()
        self.latest: dict[str, Any] | None = None
        self._tick = trio.Event()

    # -- the workers -----------------------------------------------------------------------------------------

    async def poll(self, ready: bool = False) -> list[WorkerView]:
        """Ask every worker that serves for its snapshot (at once); update the aggregate."""
        views: list[WorkerView] = []
        for slot in self.supervisor.slots:
            proc = slot.proc
            alive = proc is not None and proc.returncode is None
            views.append(WorkerView(slot.index, proc.pid if proc is not None and alive else None,
                                    alive and slot.announced))

        async def ask(view: WorkerView) -> None:
            if view.pid is None or not view.serving:
                view.problems.append("not serving" if view.pid is not None else "not running")
                return
            reply = await self.client.ask(view.pid, {"op": "metrics", "ready": ready})
            if reply is None or not reply.get("ok"):
                view.problems.append("no answer on its control socket")
                return
            view.snapshot = reply
            view.problems.extend(reply.get("problems", ()))

        async with trio.open_nursery() as nursery:
            for view in views:
                nursery.start_soon(ask, view)
        self.aggregator.update(views, self.supervisor.restarts, resident_bytes())
        return views

    async def run_poller(self) -> None:
        while True:
            try:
                await self.sample()
            except Exception:
                # The supervisor runs this: a bug in the dashboard's bookkeeping must not stop the server.
                log.exception("admin listener: sampling the workers failed")
            await trio.sleep(POLL_INTERVAL)

    async def sample(self) -> None:
        """Poll the workers, add a second to the history, wake the event streams."""
        await self.poll()
        aggregator = self.aggregator
        inflight = aggregator.inflight()
        sample = aggregator.history.sample(aggregator.totals(), aggregator.connections(), len(inflight))
        self.latest = {"sample": sample, "minute": aggregator.history.current_minute(), **self._tables(inflight)}
        tick, self._tick = self._tick, trio.Event()
        tick.set()

    def _tables(self, inflight: list[dict[str, Any]]) -> dict[str, Any]:
        """Per site, per runtime and per worker: what the dashboard lists under its charts."""
        totals = self.aggregator.totals()
        sites: dict[str, dict[str, float]] = {}
        runtimes: dict[str, dict[str, float]] = {}
        for (family, labels), value in totals.counters.items():
            if family != "requests":
                continue
            site, _, runtime, _, klass = labels
            for table, name in ((sites, site), (runtimes, runtime)):
                row = table.setdefault(name, {"requests": 0, "errors": 0})
                row["requests"] += value
                if klass == "5xx":
                    row["errors"] += value
        for page in inflight:
            sites.setdefault(page["site"], {"requests": 0, "errors": 0})
        pools: dict[str, dict[str, float]] = {}
        workers = []
        for view in self.aggregator.workers:
            snap = view.snapshot or {}
            workers.append({"index": view.index, "pid": view.pid, "serving": view.serving,
                            "rss": snap.get("rss", 0), "connections": sum(snap.get("connections", {}).values())})
            for name, stats in snap.get("runtimes", {}).items():
                if "pool.workers" in stats:
                    row = pools.setdefault(name, {"busy": 0, "idle": 0, "replaced": 0, "recycled": 0})
                    row["idle"] += stats.get("pool.idle", 0)
                    row["busy"] += stats["pool.workers"] - stats.get("pool.idle", 0)
                    row["replaced"] += stats.get("pool.replaced", 0)
                    row["recycled"] += stats.get("pool.recycled", 0)
        return {"sites": sites, "runtimes": runtimes, "inflight": inflight[:INFLIGHT_SHOWN],
                "inflight_count": len(inflight), "workers": workers, "pools": pools,
                "restarts": self.supervisor.restarts}

    async def _to_every_worker(self, message: dict[str, Any]) -> list[dict[str, Any]]:
        replies: list[dict[str, Any]] = []

        async def one(pid: int) -> None:
            reply = await self.client.ask(pid, message, timeout=60.0)
            replies.append(reply if reply is not None else {"ok": False, "pid": pid, "error": "no answer"})

        async with trio.open_nursery() as nursery:
            for slot in self.supervisor.slots:
                if slot.proc is not None and slot.proc.returncode is None and slot.announced:
                    nursery.start_soon(one, slot.proc.pid)
        return replies

    # -- HTTP ------------------------------------------------------------------------------------------------

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        from dynlan.server._access import AccessLog
        from dynlan.server._h1conn import H1Connection
        from dynlan.server._state import ServerState

        state = ServerState()
        access = AccessLog(enabled=False)
        listener = trio.SocketListener(trio.socket.from_stdlib_socket(self.sock))
        app = _AdminApp(self)

        async def one(stream: trio.SocketStream) -> None:
            try:
                peer = stream.socket.getpeername()
                client = (peer[0], peer[1])
            except OSError:
                client = None
            try:
                await H1Connection(stream, app, self.http, state, access, client).serve()
            except Exception:
                log.exception("admin connection failed")
                await trio.aclose_forcefully(stream)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(self.run_poller)
            task_status.started()
            while True:
                try:
                    stream = await listener.accept()
                except OSError as exc:
                    # Out of file descriptors for a moment (EMFILE): the server goes on, so does this listener.
                    log.warning("admin listener: accept failed: %s", exc)
                    await trio.sleep(0.1)
                    continue
                nursery.start_soon(one, stream)

    def authorised(self, exchange: Exchange) -> bool:
        if not self.token:
            return True
        headers = exchange.request.headers
        given = ""
        auth = headers.get("authorization") or ""
        if auth[:7].lower() == "bearer ":
            given = auth[7:].strip()
        else:
            cookie = headers.get("cookie")
            if cookie:
                try:
                    jar: SimpleCookie = SimpleCookie(cookie)
                except CookieError:
                    jar = SimpleCookie()
                morsel = jar.get(COOKIE)
                given = morsel.value if morsel is not None else ""
        # Compared in constant time: the token must not leak a byte at a time through response timing.
        return bool(given) and hmac.compare_digest(given.encode(), self.token.encode())

    def wait_tick(self) -> trio.Event:
        return self._tick


class _AdminApp:
    def __init__(self, admin: AdminServer) -> None:
        self.admin = admin

    async def handle(self, exchange: Exchange) -> None:
        request = exchange.request
        path, method = request.path, request.method
        admin = self.admin
        if path == "/admin" and admin.token and request.query.get("token"):
            given = request.query["token"][0]
            if hmac.compare_digest(given.encode(), admin.token.encode()):
                # The token leaves the URL (history, Referer): a cookie only this listener gets from now on.
                await exchange.respond(303, [("location", "/admin"), ("content-length", "0"), (
                    "set-cookie", f"{COOKIE}={admin.token}; Path=/; HttpOnly; SameSite=Strict")], b"")
                return
        if not admin.authorised(exchange):
            await _json(exchange, 401, {"error": "a bearer token is required"},
                        [("www-authenticate", 'Bearer realm="dynlan admin"')])
            return
        if path == "/healthz":
            await _json(exchange, 200, {"status": "ok", "pid": os.getpid()})
        elif path == "/readyz":
            views = await admin.poll(ready=True)
            stopping = admin.supervisor.stopping
            ready = bool(views) and all(not view.problems for view in views) and not stopping
            await _json(exchange, 200 if ready else 503, {"ready": ready, "stopping": stopping, "workers": [
                {"index": v.index, "pid": v.pid, "serving": v.serving, "problems": v.problems} for v in views]})
        elif path == "/metrics":
            await admin.poll()
            body = generate_latest(admin.registry)
            await exchange.respond(200, [("content-type", CONTENT_TYPE_LATEST), ("cache-control", "no-store"),
                                         ("content-length", str(len(body)))], b"" if method == "HEAD" else body)
        elif path in ("/admin", "/admin/"):
            body = DASHBOARD.encode()
            await exchange.respond(200, [
                ("content-type", "text/html; charset=utf-8"), ("cache-control", "no-store"),
                ("content-security-policy", "default-src 'self'; script-src 'unsafe-inline'; "
                 "style-src 'unsafe-inline'; img-src data:"),
                ("content-length", str(len(body)))], b"" if method == "HEAD" else body)
        elif path == "/admin/events":
            await self._events(exchange)
        elif path in ("/admin/purge", "/admin/reload"):
            if method != "POST":
                await _json(exchange, 405, {"error": "POST only"}, [("allow", "POST")])
                return
            if request.headers.get("x-dynlan-admin") is None:
                # A custom header: another site's form or image cannot send it (cross-site request forgery).
                await _json(exchange, 403, {"error": "the X-Dynlan-Admin header is required"})
                return
            message = {"op": "purge", "all": True} if path.endswith("purge") else {"op": "reload"}
            replies = await admin._to_every_worker(message)
            ok = bool(replies) and all(reply.get("ok") for reply in replies)
            await _json(exchange, 200 if ok else 500, {"ok": ok, "workers": replies})
        else:
            await _json(exchange, 404, {"error": f"{path} not found"})

    async def _events(self, exchange: Exchange) -> None:
        """Server-sent events: the history first, then one sample a second."""
        admin = self.admin
        history = admin.aggregator.history
        await exchange.send_head(200, [("content-type", "text/event-stream"), ("cache-control", "no-store")])
        first = {"seconds": list(history.seconds), "minutes": list(history.minutes)}
        await exchange.send_body(_event("history", first))
        if admin.latest is not None:
            await exchange.send_body(_event("sample", admin.latest))
        while True:
            await admin.wait_tick().wait()
            if admin.latest is not None:
                await exchange.send_body(_event("sample", admin.latest))


def _event(name: str, data: Any) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


async def _json(exchange: Exchange, status: int, data: Any, headers: list[tuple[str, str]] | None = None) -> None:
    body = json.dumps(data).encode() + b"\n"
    await exchange.respond(status, [("content-type", "application/json"), ("cache-control", "no-store"),
                                    ("content-length", str(len(body))), *(headers or [])], body)
