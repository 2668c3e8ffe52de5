"""The process pool's successors: a worker near `max_requests` has its replacement started while it serves on."""

from __future__ import annotations

import subprocess
import sys

import trio
import trio.testing

from dynlan.sandboxes import ProcessPool, spawn

WORKER = [sys.executable, "-c", "import sys; sys.stdin.read()"]
"""A worker process that lives until its stdin closes (or it is killed)."""


class Starts:
    """The pool's start function, telling each start it made (the test waits for the successor's)."""

    def __init__(self) -> None:
        self.procs: list[trio.Process] = []
        self.started = trio.Semaphore(0)

    async def __call__(self) -> trio.Process:
        proc = await spawn(WORKER, cwd="/", stdin=subprocess.PIPE)
        self.procs.append(proc)
        self.started.release()
        return proc


async def _successor_started(starts: Starts) -> None:
    """Wait for the first worker's start and its successor's, then for the pool to hold the successor as spare."""
    with trio.fail_after(60):  # a bound for a broken pool, not a timing: a start takes milliseconds
        await starts.started.acquire()
        await starts.started.acquire()
    await trio.testing.wait_all_tasks_blocked()


async def _serve(pool: ProcessPool, count: int) -> list[int]:
    pids = []
    for _ in range(count):
        async with pool.lease() as worker:
            pids.append(worker.pid)
    return pids


async def test_a_recycled_worker_s_successor_is_running_before_it_retires() -> None:
    starts = Starts()
    async with trio.open_nursery() as nursery:
        pool = ProcessPool(starts, size=1, max_requests=10, nursery=nursery)
        try:
            first = await _serve(pool, 9)  # the 9th hands the worker back with one request left: its successor starts
            await _successor_started(starts)  # before the first worker serves its last request
            assert len(starts.procs) == 2 and pool.workers == 2
            last = await _serve(pool, 1)
            after = await _serve(pool, 3)
            assert set(first) == set(last) == {starts.procs[0].pid}
            assert set(after) == {starts.procs[1].pid}  # no third start: the successor took the slot
            assert len(starts.procs) == 2 and pool.workers == 1
            assert starts.procs[0].returncode is not None  # the first was killed and reaped on retiring
            assert pool.statistics()["spares"] == 1 and pool.statistics()["recycled"] == 1
        finally:
            await pool.aclose()
    assert all(proc.returncode is not None for proc in starts.procs)


async def test_an_unused_successor_is_stopped_when_the_pool_closes() -> None:
    starts = Starts()
    async with trio.open_nursery() as nursery:
        pool = ProcessPool(starts, size=1, max_requests=10, nursery=nursery)
        await _serve(pool, 9)
        await _successor_started(starts)
        await pool.aclose()
    assert len(starts.procs) == 2 and all(proc.returncode is not None for proc in starts.procs)


async def test_an_idle_successor_ages_out_with_the_idle_workers() -> None:
    starts = Starts()
    async with trio.open_nursery() as nursery:
        pool = ProcessPool(starts, size=1, max_requests=10, idle_timeout=0.0, nursery=nursery)
        try:
            await _serve(pool, 9)
            await _successor_started(starts)
            assert await pool.stop_idle() == 2  # the worker and its unused successor
            assert pool.workers == 0
            assert await _serve(pool, 1)  # a lease after that starts a new worker
            assert len(starts.procs) == 3
        finally:
            await pool.aclose()


async def test_without_a_nursery_a_recycled_worker_is_replaced_when_next_leased() -> None:
    starts = Starts()
    pool = ProcessPool(starts, size=1, max_requests=3)
    try:
        pids = await _serve(pool, 4)
        assert len(starts.procs) == 2 and pids == [starts.procs[0].pid] * 3 + [starts.procs[1].pid]
        assert pool.statistics()["spares"] == 0
    finally:
        await pool.aclose()


class GatedStarts(Starts):
    """Starts whose second (the first worker's successor) waits for the test to open the gate."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0
        self.gate = trio.Event()

    async def __call__(self) -> trio.Process:
        self.calls += 1
        if self.calls == 2:
            await self.gate.wait()
        return await super().__call__()


async def test_a_lease_waits_for_the_successor_still_starting_rather_than_start_another() -> None:
    starts = GatedStarts()
    async with trio.open_nursery() as nursery:
        pool = ProcessPool(starts, size=1, max_requests=10, nursery=nursery)
        try:
            first = await _serve(pool, 10)  # the 9th starts the successor, held at the gate; the 10th retires
            assert set(first) == {starts.procs[0].pid} and starts.calls == 2
            served: list[int] = []
            done = trio.Event()

            async def one() -> None:
                served.extend(await _serve(pool, 1))
                done.set()

            nursery.start_soon(one)
            await trio.testing.wait_all_tasks_blocked()
            assert served == [] and starts.calls == 2  # waiting for the successor: no third process
            starts.gate.set()
            with trio.fail_after(60):  # a bound for a broken pool, not a timing
                await done.wait()
            assert served == [starts.procs[1].pid] and starts.calls == 2
            assert pool.workers == 1 and pool.statistics()["spares"] == 1
        finally:
            await pool.aclose()
