"""The supervisor: keeps the worker processes that serve alive, and replaces one whose event loop is stuck.

`dynlan serve` always runs as a supervisor with `--workers N` worker processes
(N = 1 by default), so that a worker blocked in native code can be replaced
(see `_watchdog.py`). The supervisor binds the listening sockets itself, one
set per worker slot, and hands them down: a replacement inherits its slot's
sockets with the connections waiting in their backlog, so a stuck worker
costs only the requests it had accepted. With several workers the slots'
sockets share the port with SO_REUSEPORT and the kernel spreads new
connections over them. A worker calls listen() once it is ready, so the
port refuses connections until the first worker can serve them.

A worker that ends without closing its runtimes (SIGKILL, a crash) leaves
php-cgi and sandbox processes in sessions of their own. The supervisor is a
subreaper, so they become its children: after a worker ends it kills every
child that is not a worker, and removes the ended worker's private temporary
folders. SIGQUIT stops the server as SIGTERM and SIGINT do.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import trio

from dynlan.sandboxes import become_subreaper, kill_orphans, remove_private_folders
from dynlan.server._watchdog import WATCHDOG_EXIT, Heartbeat, kill_children

if TYPE_CHECKING:
    from dynlan.observability._admin import AdminServer

log = logging.getLogger("dynlan")

RESTART_BACKOFF = (0.1, 0.5, 1.0, 2.0, 5.0)
"""Seconds before restarting a worker that keeps failing soon after it starts (a crash loop)."""
STABLE_AFTER = 10.0
"""A worker that ran this long before it died is restarted without backoff."""
MONITOR_INTERVAL = 0.1


@dataclass(slots=True)
class Slot:
    """One worker position: its listening sockets and heartbeat outlive the processes started in it."""

    index: int
    sockets: list[socket.socket]
    heartbeat: Heartbeat
    heartbeat_fd: int
    proc: trio.Process | None = None
    starts: int = 0
    served: bool = False
    """Some process of this slot has served."""
    announced: bool = False
    """The current process was seen serving."""
    stale_checks: int = 0
    killed_blocked: bool = False
    """The supervisor killed the current process because its event loop stayed blocked."""
    reload_pending: bool = False
    """A SIGHUP came while the current process was starting: it is told to reload once it serves."""
    reopen_pending: bool = False
    """A SIGUSR1 came while the current process was starting: it reopens the access log once it serves."""


class Supervisor:
    def __init__(
        self, argv: list[str], slots: list[Slot], grace_period: float, blocked_limit: float, grace: float,
        *, control_folder: Path | None = None,
    ) -> None:
        self.argv = argv
        self.slots = slots
        self.grace_period = grace_period
        self.backstop = blocked_limit + grace
        """Seconds without a heartbeat after which the supervisor kills a worker its own watchdog did not end
        (the limit a worker publishes, which follows its reloads, replaces `blocked_limit`)."""
        self.grace = grace
        self.control_folder = control_folder
        self.stopping = False
        self.restarts = 0
        self.exit_status = 0
        self.ready = trio.Event()
        """Set once some worker serves."""
        self._spawning = 0
        """Workers being started: a new worker is a child before its pid is known, so no orphan is killed then."""
        self._orphans = False
        """A worker has ended since the last sweep for the processes it left."""
        self.admin: AdminServer | None = None
        """The admin listener (`[admin] listen`): metrics, health checks and the dashboard, served from here."""

    @property
    def procs(self) -> dict[int, trio.Process]:
        return {slot.index: slot.proc for slot in self.slots if slot.proc is not None}

    async def _keep_alive(self, slot: Slot, nursery: trio.Nursery) -> None:
        failures = 0
        fds = [s.fileno() for s in slot.sockets]
        while not self.stopping:
            cmd = [sys.executable, "-m", "dynlan", *self.argv, "--worker-process", "--worker-index", str(slot.index),
                   "--listen-fds", ",".join(map(str, fds)), "--heartbeat-fd", str(slot.heartbeat_fd)]
            if slot.index == 0 and not slot.served:
                # The first worker of slot 0 to serve prints the banner, before it accepts: whoever reads it can
                # connect, and a response never comes before it.
                cmd.append("--banner")
            slot.heartbeat.reset()
            slot.announced = False
            # It reads the config files as they are now: a reload asked for before it started is in them.
            slot.reload_pending = False
            slot.reopen_pending = False
            slot.stale_checks = 0
            slot.killed_blocked = False
            # Its own process group: a Ctrl-C in the terminal reaches the supervisor alone, which then stops the
            # workers once (a worker that also got SIGINT would take SIGTERM as a second signal and not wait).
            self._spawning += 1
            try:
                proc = await trio.lowlevel.open_process(cmd, pass_fds=[*fds, slot.heartbeat_fd], process_group=0)
            except OSError as exc:
                # Out of processes or memory for a moment: the slot's sockets wait, the other workers serve.
                failures += 1
                delay = RESTART_BACKOFF[min(failures, len(RESTART_BACKOFF) - 1)]
                log.error("worker %d could not be started: %s; retrying in %.1fs", slot.index, exc, delay)
                await trio.sleep(delay)
                continue
            finally:
                self._spawning -= 1
            slot.proc = proc
            slot.starts += 1
            if self.stopping:
                # Stopped while it was being started: nobody else will signal it.
                self._kill(proc)
            started = trio.current_time()
            # Shielded so a stopping supervisor still reaps its child.
            with trio.CancelScope(shield=True):
                code = await proc.wait()
            self._forget(proc.pid)
            slot.served = slot.served or bool(slot.heartbeat.serving_since)
            if self.stopping:
                if code > 0:
                    # A worker that failed while it finished its requests: they may have been lost; say so.
                    log.error("worker %d (pid %d) exited with %d while stopping", slot.index, proc.pid, code)
                    self.exit_status = self.exit_status or 1
                return
            if code > 0 and not slot.heartbeat.serving_since and not self.ready.is_set():
                # Ended on its own before it served, and no worker has: a start-up error (bad runtime config,
                # ...) the worker printed. Retrying would print it forever. (A worker killed by a signal while it
                # started is restarted below.)
                if code != 2:
                    log.error("worker %d (pid %d) exited with %d before it served; stopping", slot.index, proc.pid,
                              code)
                self.exit_status = code if code == 2 else 1
                await self._stop(nursery)
                return
            self.restarts += 1
            if code == WATCHDOG_EXIT:
                log.error("worker %d (pid %d) was ended by its watchdog: its event loop stayed blocked past the "
                          "time budget (the line before names the site and page); replacing it",
                          slot.index, proc.pid)
                delay = 0.0
            elif slot.killed_blocked:
                log.error("worker %d (pid %d) was killed: its event loop stayed blocked; replacing it",
                          slot.index, proc.pid)
                delay = 0.0
            else:
                failures = 0 if trio.current_time() - started > STABLE_AFTER else failures + 1
                delay = RESTART_BACKOFF[min(failures, len(RESTART_BACKOFF) - 1)]
                log.warning("worker %d (pid %d) exited with %s; restarting in %.1fs", slot.index, proc.pid, code,
                            delay)
            await trio.sleep(delay)

    def _forget(self, pid: int) -> None:
        """Remove what an ended worker may have left: its control socket (`dynlan cache purge` would try it), the
        processes its runtimes started and their private temporary folders."""
        if self.control_folder is not None:
            with contextlib.suppress(OSError):
                (self.control_folder / f"{pid}.sock").unlink()
        self._orphans = True
        self._sweep()
        remove_private_folders(pid)

    def _sweep(self) -> None:
        """Kill the processes ended workers left (see the module docstring), once no worker is being started."""
        if not self._orphans or self._spawning:
            return
        keep = {proc.pid for proc in self.procs.values()}
        killed, waiting = kill_orphans(keep)
        if killed:
            log.info("killed %d process(es) an ended worker left", killed)
        # Those still dying, and their own children re-parented here as they die, are taken by the next sweep.
        self._orphans = waiting > 0 or killed > 0

    async def _monitor(self, nursery: trio.Nursery) -> None:
        """Notice workers that start serving, and kill one whose event loop stays blocked."""
        while True:
            await trio.sleep(MONITOR_INTERVAL)
            self._sweep()
            now = time.monotonic()  # the workers' clock (trio's has an offset)
            for slot in self.slots:
                proc = slot.proc
                if proc is None or proc.returncode is not None or not slot.heartbeat.serving_since:
                    continue
                if not slot.announced:
                    slot.announced = True
                    slot.served = True
                    if not self.ready.is_set():
                        self.ready.set()
                    elif slot.starts > 1:
                        log.info("worker %d replaced: pid %d is serving", slot.index, proc.pid)
                    if slot.reload_pending and not self.stopping:
                        slot.reload_pending = False
                        with contextlib.suppress(ProcessLookupError):
                            proc.send_signal(signal.SIGHUP)
                    if slot.reopen_pending and not self.stopping:
                        slot.reopen_pending = False
                        nursery.start_soon(self._reopen_logs, [slot])
                if self.stopping or slot.killed_blocked:
                    continue
                # Two stale readings in a row, to be sure of it.
                blocked = now - slot.heartbeat.last_beat
                published = slot.heartbeat.limit
                backstop = published + self.grace if published > 0 else self.backstop
                slot.stale_checks = slot.stale_checks + 1 if blocked > backstop else 0
                if slot.stale_checks >= 2:
                    slot.killed_blocked = True
                    nursery.start_soon(self._kill_blocked, slot, proc, blocked)

    async def _kill_blocked(self, slot: Slot, proc: trio.Process, blocked: float) -> None:
        # The worker's own watchdog did not act: its thread is starved, which happens when native code holds the
        # interpreter lock (a C call in in-process Python).
        log.error("worker %d (pid %d): event loop blocked for %.1f s and its watchdog did not end it (native code "
                  "holding the interpreter lock); killing it (its Python stacks follow)", slot.index, proc.pid,
                  blocked)
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGUSR1)
        with trio.move_on_after(0.5):
            await proc.wait()
        self._kill(proc)

    def _kill(self, proc: trio.Process) -> None:
        if proc.returncode is None:
            kill_children(proc.pid)
            with contextlib.suppress(ProcessLookupError):
                proc.kill()

    def _signal_all(self, sig: int) -> None:
        for proc in self.procs.values():
            if proc.returncode is None:
                if sig == signal.SIGKILL:
                    self._kill(proc)
                    continue
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(sig)

    def reload(self) -> None:
        """SIGHUP: each worker re-reads the config files and swaps them in (or refuses them and says why).

        A worker still starting is told once it serves (before, SIGHUP would end it); one started after this
        reads the files as they are now.
        """
        told = 0
        for slot in self.slots:
            proc = slot.proc
            if proc is None or proc.returncode is not None:
                continue
            if not slot.announced:
                slot.reload_pending = True
                continue
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGHUP)
                told += 1
        log.info("SIGHUP: reloading the configuration in %d worker%s", told, "" if told == 1 else "s")

    async def run(self) -> int:
        become_subreaper()
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM, signal.SIGQUIT, signal.SIGHUP,
                                       signal.SIGUSR1) as signals:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._watch, signals, nursery)
                if self.admin is not None:
                    await nursery.start(self.admin.serve)
                nursery.start_soon(self._monitor, nursery)
                for slot in self.slots:
                    nursery.start_soon(self._keep_alive, slot, nursery)
            # Collect what the last workers left that is still dying (its pids cgroups go once it is collected).
            with trio.move_on_after(5):
                while self._orphans:
                    await trio.sleep(MONITOR_INTERVAL)
                    self._sweep()
        return self.exit_status

    async def _watch(self, signals: AsyncIterator[int], nursery: trio.Nursery) -> None:
        async for signum in signals:
            if signum == signal.SIGHUP:
                if not self.stopping:
                    self.reload()
                continue
            if signum == signal.SIGUSR1:
                # logrotate moved the access log: every worker opens `[log] access_file` again.
                nursery.start_soon(self._reopen_logs, None)
                continue
            if self.stopping:
                # A second signal: no more waiting.
                self._signal_all(signal.SIGKILL)
                nursery.cancel_scope.cancel()
                return
            await self._stop(nursery)

    async def _reopen_logs(self, slots: list[Slot] | None = None) -> None:
        from dynlan.observability._worker import WorkerClient

        if self.control_folder is None:
            log.warning("SIGUSR1: the access log cannot be reopened without the control socket")
            return
        client = WorkerClient(self.control_folder)
        reopened = 0
        for slot in self.slots if slots is None else slots:
            proc = slot.proc
            if proc is None or proc.returncode is not None:
                continue
            if not slot.announced:
                # Starting: it may have opened the file before it was moved; it reopens it once it serves.
                slot.reopen_pending = True
                continue
            if await client.ask(proc.pid, {"op": "reopen_logs"}) is None:
                log.warning("SIGUSR1: worker %d (pid %d) did not reopen its access log", slot.index, proc.pid)
            else:
                reopened += 1
        log.info("SIGUSR1: %d worker%s reopened the access log", reopened, "" if reopened == 1 else "s")

    async def _stop(self, nursery: trio.Nursery) -> None:
        if self.stopping:
            return
        self.stopping = True
        for slot in self.slots:
            # Read by a stopping worker: nobody takes over its sockets, so it stops listening at once.
            slot.heartbeat.mark_stopping()
        self._signal_all(signal.SIGTERM)
        nursery.start_soon(self._wait_or_kill, nursery)

    async def _wait_or_kill(self, nursery: trio.Nursery) -> None:
        # A worker's grace period follows its reloads: wait for the longest one.
        grace = max([self.grace_period, *(slot.heartbeat.grace_period for slot in self.slots)])
        # Past it, a worker cuts short what still runs (a second), then closes its runtimes.
        with trio.move_on_after(grace + 5):
            for proc in list(self.procs.values()):
                await proc.wait()
        self._signal_all(signal.SIGKILL)
        nursery.cancel_scope.cancel()
