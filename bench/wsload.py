"""WebSocket echo load for `make bench`: CONNECTIONS clients, each sending a message and awaiting its echo, one
after another, for SECONDS. Prints "<rate> msg/s, <ok> ok, <failed> failed, p99 <ms> ms".

Usage: bench/wsload.py URL [--seconds 4] [--connections 32] [--size 64]
"""

from __future__ import annotations

import argparse
import asyncio
import time

from websockets.asyncio.client import connect


async def client(url: str, payload: str, stop: float, latencies: list[float], failures: list[int]) -> None:
    try:
        async with connect(url, max_size=None, ping_interval=None, compression=None) as ws:
            while time.monotonic() < stop:
                started = time.perf_counter()
                await ws.send(payload)
                if await ws.recv() != payload:
                    failures.append(1)
                    return
                latencies.append(time.perf_counter() - started)
    except Exception:
        failures.append(1)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--seconds", type=float, default=4)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--size", type=int, default=64)
    args = parser.parse_args()
    payload = ("x" * args.size)[: args.size]
    latencies: list[float] = []
    failures: list[int] = []
    started = time.monotonic()
    stop = started + args.seconds
    await asyncio.wait_for(asyncio.gather(*(client(args.url, payload, stop, latencies, failures)
                                            for _ in range(args.connections))), args.seconds + 30)
    elapsed = time.monotonic() - started
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000 if latencies else 0.0
    print(f"{len(latencies) / elapsed:.1f} msg/s, {len(latencies)} ok, {len(failures)} failed, p99 {p99:.2f} ms")


if __name__ == "__main__":
    asyncio.run(main())
