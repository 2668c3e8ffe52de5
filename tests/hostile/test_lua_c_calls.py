"""Class 2: one long call into Lua's C library (no instruction hook fires inside it) is bounded.

While the attacker's call runs, the victim's hello in every language answers within a second;
the attacker's request ends with an error status within its wall time plus the watchdog's grace;
and SIGTERM still stops the server within its grace period.
"""

from __future__ import annotations

import secrets as random
import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests._server import RunningServer, run_dynlan
from tests.hostile._support import (
    ATTACKER,
    GRACE_PERIOD,
    SLACK,
    WALL_TIME,
    WATCHDOG_GRACE,
    Answer,
    victim_latency_during,
    wait_log,
)

pytestmark = pytest.mark.e2e

KINDS = [
    "find", "method", "match", "gmatch", "gsub",  # backtracking patterns: minutes of C
    "rep", "rep-sep", "concat", "format",  # gigabytes in one call
    "sort",  # a comparator that never returns
    "sort-after-write",  # the same after a side effect, which keeps the page on the inline VM
]


def ccall(server: RunningServer, kind: str, tag: str) -> Answer:
    started = time.monotonic()
    with httpx.Client(base_url=server.url, timeout=60) as c:
        r = c.get("/lua/ccall.lua", params={"kind": kind, "tag": tag}, headers={"Host": ATTACKER})
    return Answer(r.status_code, list(r.headers.items()), r.content, "http1", time.monotonic() - started)


@pytest.mark.parametrize("kind", KINDS)
def test_a_long_c_call_does_not_hold_up_the_victim(plain: RunningServer, kind: str) -> None:
    tag = f"ccall-{kind}-{random.token_hex(4)}"
    run = victim_latency_during(plain, lambda: ccall(plain, kind, tag), tag)
    assert run.error is None, f"the attacker's {kind} request got no response: {run.error!r}"
    assert run.answer is not None
    assert run.answer.status >= 500, f"the attacker's {kind} call was not stopped: {run.answer.status} {run.answer.text[:200]}"
    limit = WALL_TIME + WATCHDOG_GRACE + SLACK
    assert run.elapsed <= limit, f"the attacker's {kind} call ran {run.elapsed:.1f} s (budget {limit} s)"


def test_sigterm_stops_the_server_during_a_long_c_call(sites: Path, server_config: str) -> None:
    with run_dynlan(sites, config=server_config) as server:
        tag = f"ccall-sigterm-{random.token_hex(4)}"
        errors: list[BaseException] = []

        def attack() -> None:
            try:
                ccall(server, "find", tag)
            except httpx.HTTPError as exc:  # the server may end the connection as it stops
                errors.append(exc)

        thread = threading.Thread(target=attack)
        thread.start()
        try:
            wait_log(server, tag)
            server.proc.send_signal(signal.SIGTERM)
            started = time.monotonic()
            try:
                code = server.proc.wait(GRACE_PERIOD + SLACK)
            except subprocess.TimeoutExpired:
                raise AssertionError(f"SIGTERM did not stop the server within {GRACE_PERIOD + SLACK} s "
                                     "while a page was in a long C call") from None
            print(f"stopped in {time.monotonic() - started:.2f} s with exit code {code}")
        finally:
            server.stop(signal.SIGKILL)
            thread.join(60)
