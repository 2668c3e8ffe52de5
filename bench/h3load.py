"""HTTP/3 load: a few QUIC connections, many concurrent streams each, for a bounded time.

No packaged load tool speaks HTTP/3 here (Debian's h2load is built without
QUIC), so this one runs on aioquic's client. Both servers of a comparison are
measured by the same client, in the same run; the client costs CPU too, so the
absolute figures are lower than a native tool would show.

Usage: bench/h3load.py URL [--connections 2] [--streams 16] [--seconds 5]
Prints one line: "<req/s> req/s, <ok> ok, <failed> failed".
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aioquic.asyncio.client import connect  # noqa: E402

from tests._h3client import H3Client, client_configuration  # noqa: E402


async def _connection(host: str, port: int, path: str, streams: int, stop: float, counts: list[int]) -> None:
    async with connect(host, port, configuration=client_configuration(None), create_protocol=H3Client) as client:
        assert isinstance(client, H3Client)
        authority = f"localhost:{port}"

        async def worker() -> None:
            while time.monotonic() < stop:
                try:
                    r = await asyncio.wait_for(client.request("GET", authority, path), 10)
                    if time.monotonic() <= stop:  # only answers within the measured time count
                        counts[0 if r.status == 200 else 1] += 1
                except (TimeoutError, ConnectionError):
                    counts[1] += 1

        await asyncio.gather(*(worker() for _ in range(streams)))


async def run(url: str, connections: int, streams: int, seconds: float) -> tuple[float, int, int]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 443
    path = parts.path or "/"
    counts = [0, 0]
    stop = time.monotonic() + seconds
    await asyncio.wait_for(
        asyncio.gather(*(_connection(host, port, path, streams, stop, counts) for _ in range(connections))),
        seconds + 30,
    )
    return counts[0] / seconds, counts[0], counts[1]


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("url")
    p.add_argument("--connections", type=int, default=2)
    p.add_argument("--streams", type=int, default=16)
    p.add_argument("--seconds", type=float, default=5)
    args = p.parse_args(argv)
    try:
        rps, ok, failed = asyncio.run(run(args.url, args.connections, args.streams, args.seconds))
    except Exception as exc:  # noqa: BLE001 - reported as a failed run
        print(f"failed: {exc!r}")
        return 1
    print(f"{rps:.1f} req/s, {ok} ok, {failed} failed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
