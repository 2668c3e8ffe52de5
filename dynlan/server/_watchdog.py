"""The watchdog: a worker whose event loop is blocked by native code is ended and replaced.

A page can start native code that no runtime can interrupt: a Lua C function
(`string.find` with a catastrophic pattern), a long C call in in-process
Python, ... It blocks the worker's trio loop, so no budget, no signal handler
(SIGTERM runs on the loop) and no other site of that worker gets a turn. The
loop stamps a heartbeat every `BEAT_INTERVAL`; a thread of the same process
watches it, and when it is older than the wall-time budget plus
`[server] watchdog_grace` the thread names the pages in flight, kills the
worker's children and ends the process with `WATCHDOG_EXIT`. The supervisor
(`_workers.py`) then starts a replacement on the same listening sockets.

The heartbeat is also written to a few bytes of memory shared with the
supervisor: native code that holds the interpreter lock starves the watchdog
thread too, and the supervisor kills such a worker itself a grace later.
"""

from __future__ import annotations

import contextlib
import ctypes
import faulthandler
import logging
import mmap
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Mapping

import trio

from dynlan.config import Config, LimitsConfig

log = logging.getLogger("dynlan")

WATCHDOG_EXIT = 70
"""Exit status of a worker ended by its watchdog (EX_SOFTWARE): the supervisor replaces it at once."""
BEAT_INTERVAL = 0.1
"""Seconds between two heartbeats of a healthy event loop."""
MAX_NAMED = 20
"""Pages in flight named in the watchdog's log line (the oldest first)."""

Inflight = Mapping[str, tuple[str, str, float]]
"""Request id -> (site, page relative to the site, monotonic start), as `Host.inflight` keeps it."""


def blocked_limit(config: Config, site_limits: Iterable[LimitsConfig]) -> float:
    """Seconds the event loop may stay blocked: the longest wall-time budget of any site, plus the grace."""
    wall = max([config.limits.wall_time, *(limits.wall_time for limits in site_limits)])
    return wall + config.server.watchdog_grace


class Heartbeat:
    """Memory shared by a worker and its supervisor: the last beat and when serving began (monotonic times),
    the worker's current blocked-loop limit and shutdown grace period (seconds; they follow reloads), the
    supervisor's pid, and whether the supervisor is stopping.

    The memory is a memfd the supervisor makes once per worker slot and hands to each worker it starts there.
    """

    SIZE = 48

    def __init__(self, fd: int) -> None:
        self._map = mmap.mmap(fd, self.SIZE)
        self._values = (ctypes.c_double * 6).from_buffer(self._map)
        # Aligned 8-byte stores and loads: a reader never sees half of a write.

    @classmethod
    def create(cls, name: str) -> tuple[Heartbeat, int]:
        """A new heartbeat and its file descriptor (to pass to a worker; the supervisor keeps it open)."""
        fd = os.memfd_create(name, os.MFD_CLOEXEC)
        os.ftruncate(fd, cls.SIZE)
        heartbeat = cls(fd)
        heartbeat._values[4] = os.getpid()
        return heartbeat, fd

    @classmethod
    def attach(cls, fd: int) -> Heartbeat:
        """The heartbeat the supervisor handed to this worker."""
        try:
            return cls(fd)
        finally:
            os.close(fd)

    def reset(self) -> None:
        for i in (0, 1, 2, 3, 5):
            self._values[i] = 0.0

    def mark_stopping(self) -> None:
        """The supervisor stops: no worker will take over this slot's sockets."""
        self._values[5] = 1.0

    @property
    def stopping(self) -> bool:
        return bool(self._values[5])

    @property
    def supervisor(self) -> int:
        """The supervisor's pid (0: unknown). A worker's parent: once it has another, the supervisor is gone.

        Read from here rather than from getppid() at start: a supervisor killed while the worker was still
        starting would leave getppid() naming init, and the worker would never notice.
        """
        return int(self._values[4])

    def publish(self, limit: float, grace_period: float) -> None:
        """The worker's limits, for the supervisor (which reads the config only once, at start)."""
        self._values[2] = limit
        self._values[3] = grace_period

    def beat(self, now: float) -> None:
        self._values[0] = now

    def mark_serving(self, now: float) -> None:
        self._values[1] = now

    @property
    def last_beat(self) -> float:
        """time.monotonic() of the last beat (0: none yet)."""
        return float(self._values[0])

    @property
    def serving_since(self) -> float:
        """time.monotonic() when the worker started serving (0: not yet)."""
        return float(self._values[1])

    @property
    def limit(self) -> float:
        """Seconds the worker's event loop may stay blocked (0: not published yet)."""
        return float(self._values[2])

    @property
    def grace_period(self) -> float:
        """Seconds the worker gives requests in flight when it stops (0: not published yet)."""
        return float(self._values[3])


def child_pids(pid: int) -> list[int]:
    """The direct children of a process, from /proc (empty when it is gone)."""
    pids: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{task}/children") as f:
                pids.extend(int(p) for p in f.read().split())
    return pids


def kill_children(pid: int) -> None:
    """SIGKILL every direct child of `pid`, with its process group when it leads one.

    php-cgi and the Python sandbox workers are started in sessions of their own: once the worker is gone they
    would be orphans nobody stops, still holding their page's request (and a site's resources).
    """
    for child in child_pids(pid):
        with contextlib.suppress(OSError):
            if os.getpgid(child) == child:
                os.killpg(child, signal.SIGKILL)
            else:
                os.kill(child, signal.SIGKILL)


class Watchdog:
    """Stamps the heartbeat from the event loop and ends this process when the loop stops doing so."""

    def __init__(
        self, limit: float, inflight: Callable[[], Inflight], *, shared: Heartbeat | None = None,
        parent: int | None = None, name: str = "worker",
    ) -> None:
        self.limit = limit
        self._inflight = inflight
        self._shared = shared
        self._parent = parent
        self._name = name
        self._last = time.monotonic()
        self._serving = False
        self._stopped = threading.Event()
        # The thread wakes ten times per limit (at most once a second): it acts within a tenth of the limit
        # late, and takes the interpreter lock from the loop rarely.
        self._check_every = max(0.05, min(1.0, limit / 10))

    def beat(self) -> None:
        now = time.monotonic()
        self._last = now
        if self._shared is not None:
            self._shared.beat(now)

    def mark_serving(self) -> None:
        """Tell the supervisor this worker accepts connections now."""
        self._serving = True
        self.beat()
        if self._shared is not None:
            self._shared.mark_serving(time.monotonic())

    def set_limits(self, limit: float, grace_period: float) -> None:
        """A reloaded config's blocked-loop limit, and its grace period for the supervisor to wait out."""
        self.limit = limit
        self._check_every = max(0.05, min(1.0, limit / 10))
        if self._shared is not None:
            self._shared.publish(limit, grace_period)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Beat until cancelled, with the watching thread running meanwhile."""
        if self._shared is not None:
            # When even this thread is starved (native code holding the interpreter lock), the supervisor kills
            # the worker; SIGUSR1 first makes it print every thread's Python stack, which names a Python page.
            faulthandler.register(signal.SIGUSR1, all_threads=True, chain=False)
        self.beat()
        thread = threading.Thread(target=self._watch, name="dynlan-watchdog", daemon=True)
        thread.start()
        task_status.started()
        try:
            while True:
                self.beat()
                await trio.sleep(BEAT_INTERVAL)
        finally:
            self._stopped.set()

    def _watch(self) -> None:
        while not self._stopped.wait(self._check_every):
            if self._parent is not None and self._serving and os.getppid() != self._parent:
                # The supervisor died (SIGKILL, OOM): nobody would ever stop this worker. Shut down gracefully.
                # (Once serving: the server handles SIGTERM from then on; before, it would end the process at
                # once, and a runtime's child processes with it left behind.)
                log.warning("%s: the supervisor (pid %d) is gone; shutting down", self._name, self._parent)
                self._parent = None
                os.kill(os.getpid(), signal.SIGTERM)
            blocked = time.monotonic() - self._last
            if blocked > self.limit and not self._stopped.is_set():
                self._fire(blocked)

    def _snapshot(self) -> list[tuple[str, tuple[str, str, float]]]:
        for _ in range(3):
            try:
                return sorted(self._inflight().items(), key=lambda item: item[1][2])
            except RuntimeError:
                continue  # the loop ran after all and changed the table while it was copied
        return []

    def _fire(self, blocked: float) -> None:
        entries = self._snapshot()
        now = time.monotonic()
        named = "; ".join(f"site {site} page {page} (request {rid}, running {now - started:.1f} s)"
                          for rid, (site, page, started) in entries[:MAX_NAMED])
        if len(entries) > MAX_NAMED:
            named += f"; and {len(entries) - MAX_NAMED} more"
        log.error("watchdog: the event loop of %s (pid %d) has been blocked for %.1f s, past its limit of %g s "
                  "(the wall-time budget plus [server] watchdog_grace), by code no runtime can interrupt; in flight: "
                  "%s. Ending this process so the supervisor replaces it", self._name, os.getpid(), blocked,
                  self.limit, named or "no page")
        kill_children(os.getpid())
        for handler in logging.getLogger().handlers:
            with contextlib.suppress(Exception):
                handler.flush()
        os._exit(WATCHDOG_EXIT)
