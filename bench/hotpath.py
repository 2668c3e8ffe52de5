"""The host's cost per request, measured in one process: steadier than wrk on a busy machine.

A real `Server` (the app, its pipeline and runtimes, the access log to /dev/null) serves CONNECTIONS
loopback TCP connections; one client task per connection, in the same trio run, sends a request and reads the whole
answer, again and again. What is reported is CPU time per request of the whole process (clients
included, which cost the same for every version of the server), and the same for the floor
(`floor_h1.serve`, trio + httptools). Compare two checkouts by running each one's copy:

    .venv/bin/python bench/hotpath.py [PATH ...]      (default: /4k.txt /hello-lua)
    PYTHONPATH=<other checkout> .venv/bin/python <other checkout>/bench/hotpath.py

`/proxied/...` goes through a `proxy` rule to the floor server on a loopback port of the same run (its CPU time is
counted too: compare a proxied path with `floor` plus the static one).

Environment: HOTPATH_REQUESTS (per path and round, default 20000), HOTPATH_ROUNDS (5), HOTPATH_CONNECTIONS (8),
HOTPATH_PROFILE (a file: the dynlan rounds run under cProfile, its statistics saved there for pstats).
"""

from __future__ import annotations

import gc
import os
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import trio

HERE = Path(__file__).resolve().parent
REQUESTS = int(os.environ.get("HOTPATH_REQUESTS", "20000"))
ROUNDS = int(os.environ.get("HOTPATH_ROUNDS", "5"))
CONNECTIONS = int(os.environ.get("HOTPATH_CONNECTIONS", "8"))


async def _client(stream: trio.SocketStream, request: bytes, count: int) -> None:
    """Ask `count` times, one request at a time, reading each answer whole (it has a Content-Length)."""
    buffer = b""
    for _ in range(count):
        await stream.send_all(request)
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end >= 0:
                head = buffer[:end].lower()
                at = head.find(b"content-length:")
                length = int(head[at + 15 : head.find(b"\r\n", at) if head.find(b"\r\n", at) > 0 else None]) if at >= 0 else 0
                if len(buffer) >= end + 4 + length:
                    if not head.startswith(b"http/1.1 200"):
                        raise RuntimeError(f"unexpected answer: {head[:80]!r}")
                    buffer = buffer[end + 4 + length :]
                    break
            data = await stream.receive_some(65536)
            if not data:
                raise RuntimeError("the server closed the connection")
            buffer += data
    await stream.aclose()


async def _measure(serve: Callable[[trio.SocketStream], Awaitable[None]], path: str) -> float:
    """CPU microseconds per request for REQUESTS requests to `path` over CONNECTIONS connections."""
    request = f"GET {path} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: hotpath\r\nAccept: */*\r\n\r\n".encode()
    per_connection = REQUESTS // CONNECTIONS
    pairs = []
    with socket.create_server(("127.0.0.1", 0)) as listener:
        for _ in range(CONNECTIONS):
            client = socket.create_connection(listener.getsockname())
            server, _ = listener.accept()
            pairs.append((server, client))
    started = time.process_time()
    async with trio.open_nursery() as nursery:
        for a, b in pairs:
            nursery.start_soon(serve, trio.SocketStream(trio.socket.from_stdlib_socket(a)))
            nursery.start_soon(_client, trio.SocketStream(trio.socket.from_stdlib_socket(b)), request, per_connection)
    return (time.process_time() - started) / (per_connection * CONNECTIONS) * 1e6


def _site(root: Path, upstream: int) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "dynlan.toml").write_text(f'[[route]]\npath = "/proxied/*"\n'
                                      f'proxy = {{ upstreams = ["http://127.0.0.1:{upstream}"], strip_prefix = true }}\n')
    (root / "4k.txt").write_bytes((b"0123456789abcdef" * 256)[:4096])
    (root / "hello-lua.lua").write_text('print("Hello, world!")\n')
    (root / "hello-wren.wren").write_text('System.print("Hello, world!")\n')
    (root / "hello-py.py").write_text('def handle(request, response):\n    response.write("Hello, world!\\n")\n')
    (root / "hello.php").write_text('<?php echo "Hello, world!\\n";\n')  # php-cgi's own CPU time is not counted


async def _main(paths: list[str], site: Path, upstream: socket.socket) -> None:
    from dynlan.app import App
    from dynlan.app._sites import discover_sites
    from dynlan.config import load_config
    from dynlan.runtimes import registry
    from dynlan.server._access import AccessLog
    from dynlan.server._serve import Server

    sys.path.insert(0, str(HERE))
    import floor_h1  # noqa: PLC0415 - beside this file, not a package

    names = frozenset(registry().names())
    config = load_config(None, names)
    config.outbound.allow = ["127.0.0.1:*"]  # the proxied row's upstream, granted to the site's rule
    sites, default = discover_sites(site, config, names)
    app = App(config, sites, default)
    app.prepare()
    log = open(os.devnull, "w")  # noqa: SIM115 - open as long as the server
    server = Server(config, app, access=AccessLog(log))

    async def serve(stream: trio.SocketStream) -> None:
        await server.handle_stream(stream, ("127.0.0.1", 40000))

    async def floor(stream: trio.SocketStream) -> None:
        await floor_h1.serve(stream)

    # As the worker does (`_tune_gc` in dynlan/_serve_cmd.py): start-up objects out of the collector's sight.
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)
    profile_to = os.environ.get("HOTPATH_PROFILE")
    profiler = None
    if profile_to:
        import cProfile

        profiler = cProfile.Profile()
    async with app.running(), trio.open_nursery() as upstreams:
        listener = trio.SocketListener(trio.socket.from_stdlib_socket(upstream))
        upstreams.start_soon(trio.serve_listeners, floor, [listener])
        rows: dict[str, list[float]] = {}
        for _ in range(ROUNDS):
            for name, fn, path in [("floor", floor, "/4k.txt"), *(("dynlan", serve, p) for p in paths)]:
                if profiler is not None and name == "dynlan":
                    profiler.enable()
                rows.setdefault(f"{name} {path}", []).append(await _measure(fn, path))
                if profiler is not None:
                    profiler.disable()
        upstreams.cancel_scope.cancel()
    log.close()
    if profiler is not None and profile_to:
        profiler.dump_stats(profile_to)
    floor_us = statistics.median(rows["floor /4k.txt"])
    for label, values in rows.items():
        us = statistics.median(values)
        print(f"  {label:<22} {us:7.1f} us/request  ({floor_us / us:4.2f}x the floor's rate)   "
              f"rounds: {' '.join(f'{v:.1f}' for v in values)}", flush=True)


def main(argv: list[str]) -> int:
    paths = argv or ["/4k.txt", "/hello-lua"]
    with tempfile.TemporaryDirectory(prefix="dynlan-hotpath-") as tmp, \
            socket.create_server(("127.0.0.1", 0)) as upstream:
        site = Path(tmp) / "site"
        _site(site, upstream.getsockname()[1])
        print(f"hotpath: {ROUNDS} rounds of {REQUESTS} requests per path over {CONNECTIONS} connections "
              f"(CPU time of server and clients in one process)", flush=True)
        trio.run(_main, paths, site, upstream)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
