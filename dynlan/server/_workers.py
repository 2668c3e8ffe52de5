"""`--workers N`: a supervisor keeping N worker processes alive on one port.

Each worker binds the port itself with SO_REUSEPORT, so the kernel spreads new
connections over them; the supervisor only starts, restarts and stops them.
"""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import AsyncIterator, Callable

import trio

log = logging.getLogger("dynlan")

RESTART_BACKOFF = (0.1, 0.5, 1.0, 2.0, 5.0)


class Supervisor:
    def __init__(self, argv: list[str], workers: int, grace_period: float) -> None:
        self.argv = argv
        self.workers = workers
        self.grace_period = grace_period
        self.stopping = False
        self.restarts = 0
        self.procs: dict[int, trio.Process] = {}

    async def _keep_alive(self, index: int) -> None:
        failures = 0
        while not self.stopping:
            cmd = [sys.executable, "-m", "dynlan", *self.argv, "--worker-process", "--worker-index", str(index)]
            proc = await trio.lowlevel.open_process(cmd)
            self.procs[index] = proc
            started = trio.current_time()
            # Shielded so a stopping supervisor still reaps its child.
            with trio.CancelScope(shield=True):
                code = await proc.wait()
            if self.stopping:
                return
            failures = 0 if trio.current_time() - started > 10 else failures + 1
            self.restarts += 1
            delay = RESTART_BACKOFF[min(failures, len(RESTART_BACKOFF) - 1)]
            log.warning("worker %d (pid %d) exited with %s; restarting in %.1fs", index, proc.pid, code, delay)
            await trio.sleep(delay)

    def _signal_all(self, sig: int) -> None:
        for proc in self.procs.values():
            if proc.returncode is None:
                try:
                    proc.send_signal(sig)
                except ProcessLookupError:
                    pass

    async def run(self, on_ready: Callable[[], None] | None = None) -> int:
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            if on_ready is not None:
                on_ready()
            async with trio.open_nursery() as nursery:
                for i in range(self.workers):
                    nursery.start_soon(self._keep_alive, i)
                nursery.start_soon(self._watch, signals, nursery)
        return 0

    async def _watch(self, signals: AsyncIterator[int], nursery: trio.Nursery) -> None:
        async for _ in signals:
            if self.stopping:
                # A second signal: no more waiting.
                self._signal_all(signal.SIGKILL)
                nursery.cancel_scope.cancel()
                return
            self.stopping = True
            self._signal_all(signal.SIGTERM)
            nursery.start_soon(self._wait_or_kill, nursery)

    async def _wait_or_kill(self, nursery: trio.Nursery) -> None:
        with trio.move_on_after(self.grace_period + 2):
            for proc in list(self.procs.values()):
                await proc.wait()
        self._signal_all(signal.SIGKILL)
        nursery.cancel_scope.cancel()
