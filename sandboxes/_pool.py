"""A pool of worker processes leased one request at a time.

Workers are started on demand up to `size`, replaced when they die or are
killed, and recycled after `max_requests`. Given a nursery, a pool starts a
worker's successor while the worker still serves its last requests
(`RENEW_AHEAD`): a recycled worker's slot does not wait for a new process to
start up (php-cgi takes 20-30 ms). With an `idle_timeout`, workers
left idle that long are stopped by `stop_idle()` (which the owner calls from a
task of its own), down to none: a pool costs no process while nobody uses it.
`aclose()` kills whatever is left.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType

import trio

from dynlan.sandboxes._process import (
    become_subreaper,
    forget,
    groups_pending,
    kill_descendants,
    kill_group,
    kill_strays,
    tree_size,
)

log = logging.getLogger("dynlan.sandbox")

_LEN = struct.Struct(">I")
MAX_MESSAGE = 256 * 1024 * 1024
RENEW_AHEAD = 0.1
"""The share of `max_requests` a worker has left when its successor is started (at least one request)."""


class PoolError(Exception):
    """A worker could not be started, or died while serving."""


@dataclass(eq=False)
class Worker:
    proc: trio.Process
    requests: int = 0
    broken: bool = False
    idle_since: float = 0.0
    """trio.current_time() when the worker was last handed back."""
    _buffer: bytearray = field(default_factory=bytearray)

    @property
    def pid(self) -> int:
        return self.proc.pid

    async def send(self, payload: bytes) -> None:
        assert self.proc.stdin is not None
        try:
            await self.proc.stdin.send_all(_LEN.pack(len(payload)) + payload)
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            self.broken = True
            raise PoolError("worker went away") from exc

    async def receive(self) -> bytes:
        assert self.proc.stdout is not None
        while True:
            if len(self._buffer) >= 4:
                (size,) = _LEN.unpack_from(self._buffer)
                if size > MAX_MESSAGE:
                    self.broken = True
                    raise PoolError("worker sent an oversized message")
                if len(self._buffer) >= 4 + size:
                    message = bytes(self._buffer[4 : 4 + size])
                    del self._buffer[: 4 + size]
                    return message
            try:
                chunk = await self.proc.stdout.receive_some(1 << 20)
            except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                self.broken = True
                raise PoolError("worker went away") from exc
            if not chunk:
                self.broken = True
                raise PoolError("worker exited")
            self._buffer += chunk


class ProcessPool:
    def __init__(self, start_worker: Callable[[], Awaitable[trio.Process]], *, size: int = 2, max_requests: int = 1000,
                 idle_timeout: float | None = None, owns_descendants: bool = False,
                 nursery: trio.Nursery | None = None) -> None:
        self._start_worker = start_worker
        self.size = size
        self.max_requests = max_requests
        self.idle_timeout = idle_timeout
        """Seconds a worker may stay idle before `stop_idle()` stops it (None: never)."""
        self.owns_descendants = owns_descendants
        """The worker itself kills what each request started, and has a child of its own between requests (the
        Python fork server): the pool then leaves the worker's descendants alone after a lease."""
        self._idle: list[Worker] = []
        """Idle workers, the longest idle first (a lease takes the last: the others can age out)."""
        self._all: set[Worker] = set()
        self._slots = trio.Semaphore(size)
        self._nursery = nursery
        """Where successors are started (None: a retired worker's slot starts its replacement when next leased)."""
        self._renew_at = max(1, max_requests - max(1, round(max_requests * RENEW_AHEAD)))
        """A worker's request count at which its successor is started."""
        self._spares: list[Worker] = []
        """Successors started and not yet needed: one takes the place of the next worker that retires."""
        self._spares_starting = 0
        self._spare_done = trio.Event()
        """Set (and made anew) each time a successor's start ends, well or not: what a lease waiting for one waits on."""
        self._waiting = 0
        """Leases waiting for a successor that is starting (it goes to them rather than to the spares)."""
        self._closed = False
        self.stats: dict[str, int] = {"started": 0, "replaced": 0, "recycled": 0, "killed": 0, "strays": 0,
                                      "stopped_idle": 0, "spares": 0}
        # Orphans of page code (a `setsid` grandchild) come back to this process, where kill_strays finds them.
        become_subreaper()

    async def _new_worker(self) -> Worker:
        try:
            proc = await self._start_worker()
        except OSError as exc:
            raise PoolError(f"cannot start worker: {exc}") from exc
        worker = Worker(proc)
        self._all.add(worker)
        self.stats["started"] += 1
        return worker

    def _retire(self, worker: Worker) -> None:
        self._all.discard(worker)
        kill_group(worker.proc)

    def _succeed(self, worker: Worker) -> None:
        """Retire a worker from its lease; a spare, if one is ready, takes its place among the idle."""
        self._retire(worker)
        if self._spares:
            spare = self._spares.pop()
            spare.idle_since = trio.current_time()
            self._idle.append(spare)

    def _renew_soon(self) -> None:
        """Start a successor for a worker near its `max_requests`, unless `size` spares are there or coming."""
        if self._nursery is not None and not self._closed and len(self._spares) + self._spares_starting < self.size:
            self._spares_starting += 1
            self._nursery.start_soon(self._start_spare)

    async def _start_spare(self) -> None:
        worker = None
        try:
            worker = await self._new_worker()
        except PoolError as exc:
            log.warning("a successor for a worker could not be started: %s", exc)
        finally:
            self._spares_starting -= 1
            if worker is not None:
                self.stats["spares"] += 1
                worker.idle_since = trio.current_time()
                if not self._closed:
                    # A lease waiting for it (its worker retired before it was ready) takes it from the idle ones.
                    (self._idle if self._waiting else self._spares).append(worker)
            self._spare_done.set()
            self._spare_done = trio.Event()
        if worker is not None and self._closed:
            self._retire(worker)
            await self._reap(worker)

    async def _take(self) -> Worker:
        """A worker for a lease that holds a slot: an idle one; else a successor, ready or still starting (a
        recycled worker's place is taken by it: no process is started for the same place twice); else a new one."""
        while not self._idle:
            if self._spares:
                return self._spares.pop()
            if not self._spares_starting:
                return await self._new_worker()
            done = self._spare_done
            self._waiting += 1
            try:
                await done.wait()
            finally:
                self._waiting -= 1
        return self._idle.pop()

    @staticmethod
    async def _reap(worker: Worker) -> None:
        with trio.CancelScope(shield=True):
            await worker.proc.wait()
        forget(worker.pid)

    def lease(self) -> _Lease:
        """A worker for one request (`async with pool.lease() as worker`); a worker left broken is killed, not reused."""
        return _Lease(self)

    def _hand_back(self, worker: Worker) -> bool:
        """A lease's worker comes back: kept idle (False), or retired (True: the caller reaps it)."""
        worker.requests += 1
        # Whether the process is still there, asked once (each ask is a waitpid call).
        alive = worker.proc.returncode is None
        # Nothing a request started outlives it: a worker has no children of its own (php-cgi runs
        # with PHP_FCGI_CHILDREN=0), so any it has now are the page's.
        if alive and not self.owns_descendants and tree_size(worker.pid) == 1:
            # The worker's own cgroup holds the worker alone: its request left no process, here or
            # re-parented to this server, so there is nothing to look for in /proc.
            pass
        else:
            if alive and not self.owns_descendants:
                self.stats["strays"] += kill_descendants(worker.pid)
            self.stats["strays"] += kill_strays()
        if worker.broken or not alive:
            self.stats["replaced"] += 1
            self._succeed(worker)
            return True
        if worker.requests >= self.max_requests:
            self.stats["recycled"] += 1
            self._succeed(worker)
            return True
        if worker.requests == self._renew_at:
            self._renew_soon()
        worker.idle_since = trio.current_time()
        self._idle.append(worker)
        return False

    def kill(self, worker: Worker) -> None:
        """Kill a worker mid-request (budget exceeded); its lease replaces it."""
        worker.broken = True
        self.stats["killed"] += 1
        kill_group(worker.proc)

    @property
    def workers(self) -> int:
        """Worker processes alive now, busy or idle, and successors being started."""
        return len(self._all) + self._spares_starting

    @property
    def in_use(self) -> int:
        """Leases held now (a lease may be waiting for its worker to start)."""
        return self.size - self._slots.value

    async def stop_idle(self) -> int:
        """Stop the workers idle for `idle_timeout` seconds or more; returns how many were stopped."""
        if self.idle_timeout is None or not (self._idle or self._spares):
            return 0
        cutoff = trio.current_time() - self.idle_timeout
        expired = [worker for worker in self._idle + self._spares if worker.idle_since <= cutoff]
        if not expired:
            return 0
        # Taken off the idle list before any await: a lease that comes meanwhile cannot get one of them.
        self._idle = [worker for worker in self._idle if worker.idle_since > cutoff]
        self._spares = [worker for worker in self._spares if worker.idle_since > cutoff]
        for worker in expired:
            self._retire(worker)
        for worker in expired:
            await self._reap(worker)
        self.stats["stopped_idle"] += len(expired)
        return len(expired)

    async def aclose(self) -> None:
        self._closed = True
        workers = list(self._all)
        for worker in workers:
            self._retire(worker)
        with trio.CancelScope(shield=True), trio.move_on_after(5):
            for worker in workers:
                await worker.proc.wait()
                forget(worker.pid)
            # The cgroups of the workers' killed descendants go once those are collected (a moment later).
            while groups_pending():
                await trio.sleep(0.01)
                kill_strays()
        self._all.clear()
        self._idle.clear()
        self._spares.clear()

    def statistics(self) -> dict[str, int]:
        # A spare is an idle worker that no lease takes until another retires.
        return {**self.stats, "workers": len(self._all), "idle": len(self._idle) + len(self._spares)}


class _Lease:
    """One request's hold on a worker: a free slot and an idle worker are taken without a trip through trio's
    scheduler (most requests); otherwise the lease waits for a slot, then for a worker (`ProcessPool._take`)."""

    __slots__ = ("_pool", "_worker")

    def __init__(self, pool: ProcessPool) -> None:
        self._pool = pool

    async def __aenter__(self) -> Worker:
        pool = self._pool
        slots = pool._slots
        if slots.value and pool._idle:
            await trio.lowlevel.checkpoint_if_cancelled()
            slots.acquire_nowait()
            self._worker = pool._idle.pop()
            return self._worker
        await slots.acquire()
        try:
            self._worker = await pool._take()
        except BaseException:
            slots.release()
            raise
        return self._worker

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        pool, worker = self._pool, self._worker
        if kind is not None:
            worker.broken = True
        try:
            if pool._hand_back(worker):
                await pool._reap(worker)
        finally:
            pool._slots.release()
