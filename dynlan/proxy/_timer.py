"""Read timeouts of the worker's client connections, kept by one task instead of a cancel scope per wait.

Every wait for a response costs a trio CancelScope with a deadline when it carries its own timeout: entering and
leaving one registers and unregisters the deadline, and on the proxy's hot path (one wait per proxied request)
that was about a tenth of the proxy's CPU per request. Here a connection about to wait notes its deadline in
`waiting`; the timer's task wakes every `TICK` seconds while anything waits, and wakes the connections whose
deadline passed with `trio.lowlevel.notify_closing` (their wait raises ClosedResourceError, which the connection
reports as UpstreamTimeout; the connection is then closed, never reused). A timeout therefore ends at most TICK
late, which is far below any timeout the configuration accepts in practice (seconds).
"""

from __future__ import annotations

from typing import Protocol

import trio

TICK = 0.05
"""Seconds between two looks at the waiting connections (while any waits)."""


class Waiter(Protocol):
    deadline: float
    expired: bool

    def expire(self) -> None:
        """Past the deadline: wake the wait (notify_closing) and mark the connection spent."""


class ReadTimer:
    """The deadlines of the connections waiting now; `run()` is its task (in the host nursery)."""

    __slots__ = ("waiting", "running", "_wake")

    def __init__(self) -> None:
        self.waiting: set[Waiter] = set()
        self.running = False
        """Only a running timer is relied on; connections wait in a cancel scope of their own otherwise."""
        self._wake: trio.Event | None = None

    def add(self, waiter: Waiter) -> None:
        self.waiting.add(waiter)
        wake = self._wake
        if wake is not None:
            self._wake = None
            wake.set()

    def discard(self, waiter: Waiter) -> None:
        self.waiting.discard(waiter)

    async def run(self) -> None:
        self.running = True
        try:
            while True:
                if not self.waiting:
                    self._wake = trio.Event()
                    await self._wake.wait()
                await trio.sleep(TICK)
                now = trio.current_time()
                for waiter in [w for w in self.waiting if w.deadline <= now]:
                    self.waiting.discard(waiter)
                    waiter.expire()
        finally:
            self.running = False
