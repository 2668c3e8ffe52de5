"""A worker's side of the admin listener: the control operations it answers for the supervisor.

- `metrics`: this worker's snapshot (`_metrics.snapshot`); with `"ready": true`, also whether it can serve
  (runtimes started, not shutting down, Redis answering when the cache is on Redis).
- `reopen_logs`: the access log file is opened again (after logrotate moved it; SIGUSR1 to the supervisor).

Every other operation is the server's own (`dynlan/server/_operations.py`).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from dynlan.observability._metrics import snapshot
from dynlan.server._operations import Operations, Reload

if TYPE_CHECKING:
    from dynlan.app import App
    from dynlan.server._access import AccessLog
    from dynlan.server._state import ServerState

log = logging.getLogger("dynlan")

REDIS_PROBE_TIMEOUT = 2.0
WORKER_TIMEOUT = 2.0
"""Seconds a worker gets to answer the supervisor (one busy past it is shown as not answering, not waited for)."""
MAX_REPLY = 32 * 1024 * 1024


class ObservedOperations(Operations):
    """The control operations, plus what the admin listener asks of a worker."""

    def __init__(self, app: App, reload: Reload | None = None) -> None:
        super().__init__(app, reload)
        self.state: ServerState | None = None
        self.access: AccessLog | None = None

    def attach(self, state: ServerState, access: AccessLog) -> None:
        """The serving side this worker's answers read (set once the server exists)."""
        self.state = state
        self.access = access

    async def handle(self, message: dict[str, Any]) -> dict[str, Any]:
        op = message.get("op")
        if op == "metrics":
            return await self.metrics(bool(message.get("ready")))
        if op == "reopen_logs":
            if self.access is not None:
                self.access.reopen()
            return {"ok": True, "pid": os.getpid()}
        return await super().handle(message)

    async def metrics(self, ready: bool) -> dict[str, Any]:
        if self.state is None or self.access is None:
            return {"ok": False, "pid": os.getpid(), "error": "not serving yet"}
        out = snapshot(self.app, self.state, self.access.metrics)
        out["ok"] = True
        if ready:
            out["problems"] = await self._problems(out)
        return out

    async def _problems(self, out: dict[str, Any]) -> list[str]:
        problems: list[str] = []
        if not out["ready"]:
            problems.append("shutting down" if self.state is not None and self.state.shutting_down
                            else "runtimes not started")
        host = self.app.host
        if host is not None and self.app.config.cache.backend == "redis":
            with trio.move_on_after(REDIS_PROBE_TIMEOUT) as scope:
                try:
                    await host.cache.get("dynlan:readyz")
                except Exception as exc:
                    problems.append(f"redis unreachable: {exc}")
            if scope.cancelled_caught:
                problems.append("redis unreachable: no answer in time")
        return problems


class WorkerClient:
    """Sends one control message to a worker's control socket and reads its one-line reply."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    async def ask(self, pid: int, message: dict[str, Any], timeout: float = WORKER_TIMEOUT) -> dict[str, Any] | None:
        with trio.move_on_after(timeout):
            try:
                stream = await trio.open_unix_socket(str(self.folder / f"{pid}.sock"))
            except OSError:
                return None
            async with stream:
                try:
                    await stream.send_all(json.dumps(message).encode() + b"\n")
                    buffer = bytearray()
                    while b"\n" not in buffer and len(buffer) < MAX_REPLY:
                        data = await stream.receive_some(1 << 16)
                        if not data:
                            break
                        buffer += data
                except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                    return None
            try:
                reply = json.loads(bytes(buffer).partition(b"\n")[0])
            except ValueError:
                return None
            return reply if isinstance(reply, dict) else None
        return None
