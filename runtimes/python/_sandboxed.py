"""Python pages in the process sandbox (`[python] sandbox = "process"`): the host's side.

Each site has its own pool of workers (`_worker.py`), started with the site as
working folder. A worker is a fork server: every request runs in a fresh child
process, which is killed with everything it started when the request ends, so
no request sees what an earlier one changed or left running. Per request the
host enforces: wall time (the worker is killed), CPU time (the worker's whole
process tree, watched from /proc and killed beyond `cpu_seconds`), memory
(RLIMIT_AS, set by the worker at start-up; a page cannot raise it), processes
(`max_processes` at once: a pids cgroup, or RLIMIT_NPROC) and output size.

A page reaches the host only through the host-call table: the child sends a
`c` frame naming an operation and this side answers it with `dynlan.host.call`
for the request; the request's fields are read, and the response the child
sends (status, headers, body) applied, through the same table.
"""

from __future__ import annotations

import os
import shutil
import struct
import sys
from typing import Any

import trio

from dynlan.host import (
    BudgetExceeded,
    Frame,
    Host,
    HostCallError,
    PageContext,
    PageError,
    call,
    call_nowait,
)
from dynlan.runtimes.python._api import REQUEST_FIELDS
from dynlan.runtimes.python._worker import payload, unpack
from dynlan.sandboxes import (
    Limits,
    PoolError,
    ProcessPool,
    Worker,
    descendants,
    private_folder,
    spawn,
)

WATCH_INTERVAL = 0.05
MAX_PROCESSES = 32
"""Processes (and threads) a worker and the request it runs may have at once, unless `[python] max_processes`."""
FRAME_SLACK = 1024 * 1024
"""A child's message is at most its output budget plus this (host-call arguments, headers)."""
_LEN = struct.Struct(">I")
ABORT_GRACE = 2.0
"""Seconds a worker has to end a request the host stopped early, before it is replaced."""


class SandboxedPython:
    def __init__(self, host: Host, options: dict[str, Any]) -> None:
        self.host = host
        self.workers = int(options.get("workers", 2))
        self.cpu_seconds = options.get("cpu_seconds")
        self.address_space = options.get("address_space")
        self.max_processes = int(options.get("max_processes", MAX_PROCESSES))
        self.connect_ports = [int(port) for port in options.get("connect_ports", ())]
        self.pools: dict[str, ProcessPool] = {}
        self.private: list[str] = []
        """Each site's private temporary folder (the only one its pages may write), removed at close."""
        self.stats = {"cpu_kills": 0, "wall_kills": 0, "crashes": 0, "aborts": 0}

    def _pool(self, ctx: PageContext) -> ProcessPool:
        root = ctx.fs.root
        pool = self.pools.get(root)
        if pool is None:
            memory = ctx.limits.memory
            cpu_cap = max(60, int(ctx.limits.wall_time * 100))
            private = private_folder("python")
            self.private.append(private)
            env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "DYNLAN_MEMORY_BUDGET": str(memory),
                   "PYTHONDONTWRITEBYTECODE": "1", "LANG": "C.UTF-8", "TMPDIR": private, "HOME": private,
                   "DYNLAN_CONNECT_PORTS": ",".join(map(str, self.connect_ports))}
            limits = Limits(cpu_seconds=cpu_cap, address_space=self.address_space, max_processes=self.max_processes)

            async def start() -> trio.Process:
                return await spawn([sys.executable, "-m", "dynlan.runtimes.python._worker"], cwd=root, env=env,
                                   limits=limits, stderr=None)

            # The worker kills what each request started before it forks the child for the next one, which
            # waits in the worker while it is idle: the pool must leave that one alone.
            pool = ProcessPool(start, size=self.workers, owns_descendants=True, nursery=self.host.nursery)
            self.pools[root] = pool
        return pool

    async def aclose(self) -> None:
        for pool in self.pools.values():
            await pool.aclose()
        self.pools.clear()
        for folder in self.private:
            shutil.rmtree(folder, ignore_errors=True)
        self.private.clear()

    def statistics(self) -> dict[str, int]:
        out = dict(self.stats)
        for pool in self.pools.values():
            for k, v in pool.statistics().items():
                out[k] = out.get(k, 0) + v
        return out

    async def handle(self, ctx: PageContext) -> None:
        pool = self._pool(ctx)
        body: bytes = await call(ctx, "body", ())
        request = {name: call_nowait(ctx, "req", (name,)) for name in REQUEST_FIELDS}
        page = {"root": ctx.fs.root, "page": ctx.page, "name": ctx.page_name,
                "limit": ctx.limits.output_size + FRAME_SLACK}
        cpu_budget = float(self.cpu_seconds) if self.cpu_seconds else ctx.limits.wall_time
        outcome: Exception | None = None
        """How the request ends, raised once the worker is handed back in step (an exception through the
        lease marks the worker broken)."""
        async with pool.lease() as worker:
            if worker.requests == 0:
                kind, _, _ = await _receive(worker)
                if kind != b"R":
                    raise PageError("the Python worker did not start")
            verdict: dict[str, str] = {}
            failure: Exception | None = None
            try:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._watch_cpu, pool, worker, cpu_budget, verdict)
                    try:
                        with trio.move_on_after(ctx.limits.wall_time) as wall:
                            await _send(worker, payload(b"p", page),
                                        payload(b"r", {"page": page, "request": request,
                                                       "output_limit": ctx.limits.output_size}, body))
                            outcome = await self._converse(ctx, worker)
                    except Exception as exc:  # raised below, outside the nursery (no exception group)
                        failure = exc
                    nursery.cancel_scope.cancel()
                if wall.cancelled_caught:
                    pool.kill(worker)
                    self.stats["wall_kills"] += 1
                    raise BudgetExceeded("time", f"page ran past its time budget of {ctx.limits.wall_time:g} s")
                if isinstance(failure, PoolError):
                    raise failure
                if failure is not None:
                    # Stopped by the host (a response the table refused, 400 for a body that is not JSON,
                    # the output budget): the worker ends the child and stays in step, or is replaced.
                    await self._abort(worker)
                    outcome = failure
            except PoolError:
                if verdict.get("cpu"):
                    raise BudgetExceeded("instructions", f"page used more than its CPU budget of {cpu_budget:g} s") from None
                self.stats["crashes"] += 1
                raise PageError("the page's worker process died" + _exited(worker.proc.returncode)) from None
        if outcome is not None:
            raise outcome

    async def _abort(self, worker: Worker) -> None:
        self.stats["aborts"] += 1
        with trio.move_on_after(ABORT_GRACE):
            try:
                await worker.send(b"k")
                # Frames the child sent before the worker read the abort are this request's: dropped. The child
                # cannot send a K (the worker relays only a child's own kinds), so this one is the worker's.
                while (await worker.receive())[:1] != b"K":
                    pass
                return
            except PoolError:
                pass
        worker.broken = True

    async def _watch_cpu(self, pool: ProcessPool, worker: Worker, budget: float, verdict: dict[str, str]) -> None:
        start = tree_cpu_seconds(worker.pid)
        while True:
            await trio.sleep(WATCH_INTERVAL)
            if tree_cpu_seconds(worker.pid) - start > budget:
                verdict["cpu"] = "exceeded"
                self.stats["cpu_kills"] += 1
                pool.kill(worker)
                return

    async def _converse(self, ctx: PageContext, worker: Worker) -> Exception | None:
        """Answer the child until its last frame; what the request ends with (None: the response is complete)."""
        while True:
            kind, head, raw = await _receive(worker)
            if kind == b"c":
                await worker.send(await self._call(ctx, head))
            elif kind == b"l":
                call_nowait(ctx, "log", (head.get("level", "info"), head.get("message", "")))
            elif kind == b"f":
                await self._apply(ctx, head, raw)
                await call(ctx, "flush", ())
            elif kind == b"d":
                await self._apply(ctx, head, raw)
                return None
            elif kind == b"e":
                file, line = head.get("file"), head.get("line")
                return PageError(str(head.get("message", "page failed")), str(head.get("detail", "")),
                                 file if isinstance(file, str) else None, line if isinstance(line, int) else None,
                                 kind=str(head.get("kind", "")), headline=str(head.get("headline", "")) or None,
                                 frames=_frames(head.get("frames")))
            elif kind == b"b":
                budget = str(head.get("kind", "memory"))
                return BudgetExceeded(budget if budget in BudgetExceeded.STATUS else "memory",
                                      str(head.get("message", "budget exceeded")))
            elif kind == b"X":
                self.stats["crashes"] += 1
                reason = head.get("reason") or "ended without answering" + _exited(head.get("status"))
                return PageError(f"the page's process {reason}")
            else:
                raise PageError(f"unexpected message from the Python worker: {kind!r}")

    async def _apply(self, ctx: PageContext, head: dict[str, Any], raw: bytes | None) -> None:
        """The child's status, headers (with its first flush or at the end) and body, through the table."""
        try:
            if "status" in head:
                call_nowait(ctx, "status", (head["status"],))
                seen: set[str] = set()
                for pair in head.get("headers", []):
                    if not (isinstance(pair, list) and len(pair) == 2):
                        raise HostCallError("malformed header")
                    name = str(pair[0]).lower()
                    call_nowait(ctx, "add_header" if name in seen else "set_header", (name, pair[1]))
                    seen.add(name)
            if raw:
                await call(ctx, "write", (raw,))
        except HostCallError as exc:
            raise PageError(f"the page's response was refused: {exc}") from None

    async def _call(self, ctx: PageContext, head: dict[str, Any]) -> bytes:
        op, args = head.get("op"), head.get("args")
        if not isinstance(op, str) or not isinstance(args, list):
            return payload(b"c", {"ok": False, "error": "malformed host call"})
        try:
            value = await call(ctx, op, tuple(args))
        except HostCallError as exc:
            return payload(b"c", {"ok": False, "error": str(exc)})
        if isinstance(value, bytes):
            return payload(b"c", {"ok": True, "bytes": True}, value)
        try:
            return payload(b"c", {"ok": True, "value": value})
        except (TypeError, ValueError) as exc:
            return payload(b"c", {"ok": False, "error": f"the answer cannot be sent to the page: {exc}"})


async def _send(worker: Worker, *payloads: bytes) -> None:
    """Frames in one write: each write to the pipe wakes the worker, and waking a process is not cheap."""
    assert worker.proc.stdin is not None
    try:
        await worker.proc.stdin.send_all(b"".join(_LEN.pack(len(p)) + p for p in payloads))
    except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
        worker.broken = True
        raise PoolError("worker went away") from exc


async def _receive(worker: Worker) -> tuple[bytes, dict[str, Any], bytes | None]:
    data = await worker.receive()
    try:
        kind, head, raw = unpack(data)
    except ValueError:
        raise PageError("the Python worker sent a malformed message") from None
    if not isinstance(head, dict):
        raise PageError("the Python worker sent a malformed message")
    return kind, head, raw


def tree_cpu_seconds(pid: int) -> float:
    """CPU time of a worker and every process below it, including children they have reaped (from /proc)."""
    ticks = 0
    for each in (pid, *descendants(pid)):
        try:
            with open(f"/proc/{each}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        ticks += sum(int(x) for x in fields[11:15])  # utime, stime, cutime, cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def _exited(code: Any) -> str:
    """` (exit status 3)`, ` (killed by SIGKILL)`, or nothing when it is not known."""
    if not isinstance(code, int):
        return ""
    if code < 0:
        import signal

        try:
            return f" (killed by {signal.Signals(-code).name})"
        except ValueError:
            return f" (signal {-code})"
    return f" (exit status {code})"


def _frames(value: Any) -> list[Frame]:
    """The frames a worker reported. The worker runs the page, so they are checked like any page output:
    the dev page reads only files that resolve inside the site (dynlan.host._devreport)."""
    if not isinstance(value, list):
        return []
    return [Frame(f[0], f[1], f[2]) for f in value[:100]
            if isinstance(f, list) and len(f) == 3 and isinstance(f[0], str) and isinstance(f[1], int)
            and isinstance(f[2], str)]
