"""The slow-request log: a page still running past `[log] slow_fraction` of its wall-time budget is logged once,
with where it is.

Where it is: the stack of the trio task that runs the page, from the host's `run_page` down, read from its
chain of suspended coroutines (`cr_await`) while the page waits. A Python page's own frames are in it; a Lua,
Wren or PHP page's stack shows the host call it waits in (`sleep`, `http.request`, a FastCGI answer), since
those VMs keep their own stacks. A page that keeps the event loop busy is not seen here (nothing runs until it
yields): the watchdog (`dynlan/server/_watchdog.py`) names those.
"""

from __future__ import annotations

import logging
import os
import time
import traceback
from dataclasses import dataclass
from types import FrameType
from typing import Any

import trio

log = logging.getLogger("dynlan")

CHECK_INTERVAL = 0.1
"""Seconds between two looks at the pages running."""
MAX_FRAMES = 30


@dataclass(slots=True)
class _Running:
    task: trio.lowlevel.Task
    site: str
    page: str
    started: float
    budget: float
    reported: bool = False


class SlowLog:
    """Pages running now, and a task that logs each one once when it passes its share of the budget."""

    def __init__(self, fraction: float) -> None:
        self.fraction = fraction
        self.running: dict[str, _Running] = {}

    def begin(self, request_id: str, site: str, page: str, budget: float) -> None:
        self.running[request_id] = _Running(trio.lowlevel.current_task(), site, page, time.monotonic(), budget)

    def end(self, request_id: str) -> None:
        self.running.pop(request_id, None)

    async def run(self) -> None:
        while True:
            await trio.sleep(CHECK_INTERVAL)
            try:
                self.check(time.monotonic())
            except Exception:
                # A log line must never take the worker down.
                log.exception("slow-page log failed")

    def check(self, now: float) -> None:
        for request_id, entry in list(self.running.items()):
            if entry.reported or now - entry.started < self.fraction * entry.budget:
                continue
            entry.reported = True
            elapsed = now - entry.started
            log.warning("[%s] slow page: site %s page %s has run %.1f s, %.0f%% of its wall-time budget of %g s; "
                        "where it is:\n%s", request_id, entry.site, entry.page, elapsed,
                        100 * elapsed / entry.budget, entry.budget, task_stack(entry.task) or "  (not known)")


def task_stack(task: trio.lowlevel.Task) -> str:
    """A suspended task's stack, outermost first, from the frame that runs the page (the whole one if none)."""
    frames: list[FrameType] = []
    coro: Any = task.coro
    while coro is not None and len(frames) < 200:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is None:
            break
        frames.append(frame)
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    start = next((i for i, f in enumerate(frames) if f.f_code.co_name == "run_page"), 0)
    end = len(frames)
    while end > start + 1 and f"{os.sep}trio{os.sep}" in frames[end - 1].f_code.co_filename:
        end -= 1  # trio's own frames under the wait (sleep_until, wait_task_rescheduled): not where the page is
    shown = frames[start:end][-MAX_FRAMES:]
    summary = traceback.StackSummary.extract(((f, f.f_lineno) for f in shown), capture_locals=False)
    return "".join(summary.format()).rstrip()
