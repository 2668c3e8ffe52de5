"""Python pages in a pool of worker processes (`[python] sandbox = "process"`).

Each site gets its own pool (workers run with the site as working folder).
Per request the host enforces: wall time (the worker is killed), CPU time
(watched from /proc and killed beyond `cpu_seconds`), memory (the worker caps
its own address space at start-up with RLIMIT_AS, which a page cannot raise),
and output size. A worker that crashes or is killed takes only its own
request down; the pool starts a fresh one.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import trio

from dynlan.host import BudgetExceeded, CacheError, Host, PageContext, PageError, parse_ttl
from dynlan.sandboxes import Limits, PoolError, ProcessPool, cpu_seconds, spawn

WATCH_INTERVAL = 0.05


class SandboxedPython:
    def __init__(self, host: Host, options: dict[str, Any]) -> None:
        self.host = host
        self.workers = int(options.get("workers", 2))
        self.cpu_seconds = options.get("cpu_seconds")
        self.address_space = options.get("address_space")
        self.pools: dict[str, ProcessPool] = {}
        self.stats = {"cpu_kills": 0, "wall_kills": 0, "crashes": 0}

    def _pool(self, ctx: PageContext) -> ProcessPool:
        root = ctx.fs.root
        pool = self.pools.get(root)
        if pool is None:
            memory = ctx.limits.memory
            cpu_cap = max(60, int(ctx.limits.wall_time * 100))
            env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "DYNLAN_MEMORY_BUDGET": str(memory),
                   "PYTHONDONTWRITEBYTECODE": "1", "LANG": "C.UTF-8"}

            async def start() -> trio.Process:
                return await spawn([sys.executable, "-m", "dynlan.runtimes.python._worker"], cwd=root, env=env,
                                   limits=Limits(cpu_seconds=cpu_cap, address_space=self.address_space), stderr=None)

            pool = ProcessPool(start, size=self.workers)
            self.pools[root] = pool
        return pool

    async def aclose(self) -> None:
        for pool in self.pools.values():
            await pool.aclose()
        self.pools.clear()

    def statistics(self) -> dict[str, int]:
        out = dict(self.stats)
        for pool in self.pools.values():
            for k, v in pool.statistics().items():
                out[k] = out.get(k, 0) + v
        return out

    async def handle(self, ctx: PageContext) -> None:
        pool = self._pool(ctx)
        body = await ctx.read_body() if ctx.has_body else b""
        info = dict(ctx.request_info())
        info.update(query=ctx.query_first(), query_all={k: list(v) for k, v in ctx.request.query.items()},
                    headers=ctx.request.headers.as_dict(), params=dict(ctx.params), cookies=dict(ctx.cookies),
                    body=body.decode("latin-1"))
        cpu_budget = float(self.cpu_seconds) if self.cpu_seconds else ctx.limits.wall_time
        async with pool.lease() as worker:
            if worker.requests == 0:
                ready = await _receive(worker)
                if ready.get("t") != "ready":
                    raise PageError("the Python worker did not start")
            verdict: dict[str, str] = {}
            failure: Exception | None = None
            try:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._watch_cpu, pool, worker, cpu_budget, verdict)
                    try:
                        with trio.move_on_after(ctx.limits.wall_time) as wall:
                            await worker.send(json.dumps({
                                "t": "run", "root": ctx.fs.root, "page": ctx.page, "name": ctx.page_name,
                                "request": info, "output_limit": ctx.limits.output_size,
                            }).encode())
                            await self._converse(ctx, worker)
                    except Exception as exc:  # raised below, outside the nursery (no exception group)
                        failure = exc
                    nursery.cancel_scope.cancel()
                if failure is not None:
                    raise failure
                if wall.cancelled_caught:
                    pool.kill(worker)
                    self.stats["wall_kills"] += 1
                    raise BudgetExceeded("time", f"page ran past its time budget of {ctx.limits.wall_time:g} s")
            except PoolError:
                if verdict.get("cpu"):
                    raise BudgetExceeded("instructions", f"page used more than its CPU budget of {cpu_budget:g} s") from None
                self.stats["crashes"] += 1
                code = worker.proc.returncode
                raise PageError(f"the page's worker process died ({_describe_exit(code)})") from None

    async def _watch_cpu(self, pool: ProcessPool, worker: Any, budget: float, verdict: dict[str, str]) -> None:
        start = cpu_seconds(worker.pid)
        while True:
            await trio.sleep(WATCH_INTERVAL)
            if cpu_seconds(worker.pid) - start > budget:
                verdict["cpu"] = "exceeded"
                self.stats["cpu_kills"] += 1
                pool.kill(worker)
                return

    async def _converse(self, ctx: PageContext, worker: Any) -> None:
        while True:
            message = await _receive(worker)
            kind = message.get("t")
            if kind == "call":
                reply = await self._call(ctx, message.get("op", ""), message.get("args", []))
                await worker.send(json.dumps(reply).encode())
            elif kind == "log":
                ctx.log.at(str(message.get("level", "info")), str(message.get("message", "")))
            elif kind in ("flush", "done"):
                self._apply(ctx, message)
                if kind == "done":
                    return
                await ctx.response.flush()
            elif kind == "budget":
                raise BudgetExceeded(str(message.get("kind", "memory")), str(message.get("message", "budget exceeded")))
            elif kind == "error":
                file = message.get("file")
                raise PageError(str(message.get("message", "page failed")), str(message.get("detail", "")),
                                file if isinstance(file, str) else None,
                                message.get("line") if isinstance(message.get("line"), int) else None)
            else:
                raise PageError(f"unexpected message from the Python worker: {kind!r}")

    def _apply(self, ctx: PageContext, message: dict[str, Any]) -> None:
        response = ctx.response
        if not response.streaming:
            response.set_status(message.get("status", 200))
            response.headers.remove("content-type")
            for pair in message.get("headers", []):
                if isinstance(pair, list) and len(pair) == 2:
                    response.add_header(str(pair[0]), str(pair[1]))
        body = message.get("body", "")
        if isinstance(body, str) and body:
            response.write(body.encode("latin-1"))

    async def _call(self, ctx: PageContext, op: str, args: list[Any]) -> dict[str, Any]:
        cache = ctx.cache
        try:
            key = str(args[0]) if args else ""
            if op == "cache_response":
                ctx.cache_response(*args[:5])
                value = None
            elif op == "cache_purge":
                value = ctx.purge(*args[:2])
            elif op == "cache_get":
                value = await cache.get(key)
            elif op == "cache_set":
                await cache.set(key, args[1] if len(args) > 1 else None, parse_ttl(args[2] if len(args) > 2 else None))
                value = True
            elif op == "cache_delete":
                value = await cache.delete(key)
            elif op == "cache_incr":
                value = await cache.incr(key, args[1] if len(args) > 1 and args[1] is not None else 1,
                                         parse_ttl(args[2] if len(args) > 2 else None))
            else:
                return {"t": "result", "ok": False, "error": f"unknown host call {op!r}"}
        except (CacheError, TypeError, ValueError) as exc:
            return {"t": "result", "ok": False, "error": str(exc)}
        return {"t": "result", "ok": True, "value": value}


async def _receive(worker: Any) -> dict[str, Any]:
    data = await worker.receive()
    try:
        message = json.loads(data)
    except ValueError:
        worker.broken = True
        raise PageError("the Python worker sent a malformed message") from None
    if not isinstance(message, dict):
        worker.broken = True
        raise PageError("the Python worker sent a malformed message")
    return message




def _describe_exit(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        import signal

        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit status {code}"

