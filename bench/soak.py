"""Soak: mixed traffic at a fixed rate for SOAK_SECONDS (default 600), with faults mid-run.

Serves a site of its own over TLS with HTTP/3 on, the cache on a private
redis-server, and sends, each at its own fixed rate:

- HTTP/1.1 (httpx), HTTP/2 (httpx) and HTTP/3 (aioquic) requests for static
  files, pages in Lua, Wren, Python and PHP, a page from the response cache,
  pages counting in the Redis cache, and uploads (Python and PHP pages hash
  the body);
- malformed HTTP/1.1 requests, 5 % of all requests (each must get a 4xx or a
  closed connection).

Faults, at fixed fractions of the run: a php-cgi process is killed with
SIGKILL (30 %), Redis is stopped and started again (50 %), and a page is
rewritten and the server told to reload with SIGHUP (70 %).

Before the run each target is asked for until the worker's memory stops
growing with it (a VM's collector first lets its heap grow to a threshold),
then the paced traffic warms up for a quarter of the run (two minutes at
most): HTTP/2 and HTTP/3 connections, the header caches and the collectors'
thresholds reach their working size.

It passes when every well-formed request succeeded apart from those a fault
explains (a PHP page within seconds of the kill, a Redis-backed page while
Redis is away and just after), when the worker's RSS after the warm-up grew
by less than 5 % by the end, and when the worker has no more file descriptors
open at the end than after the warm-up (both counted with the clients'
connections closed). It prints its figures, and exits 1 when it fails.

The memory check is on the worker process: it serves every request and holds
every cache, connection and VM, for the server's whole life. php-cgi
processes are not: each is replaced after `max_requests` (and one is killed
mid-run), so their memory cannot accumulate; their total RSS is printed
beside the worker's. Both RSS readings are taken with the clients'
connections closed and after the worker's next return of free heap pages to
the system (it does so every MEMORY_TRIM_INTERVAL seconds), so they compare
what the worker holds, not where glibc's free lists stood at that moment.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import random
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dynlan.sandboxes import descendants  # noqa: E402
from dynlan.server._serve import MEMORY_TRIM_INTERVAL  # noqa: E402
from dynlan.server._tls import development_certificate  # noqa: E402
from tests._h3client import H3Client, client_configuration  # noqa: E402

SECONDS = float(os.environ.get("SOAK_SECONDS", "600"))
RATES = {"h1": 12.0, "h2": 10.0, "h3": 6.0}
"""Requests per second each protocol's client sends (the malformed requests add 5 % of their sum)."""
MALFORMED_SHARE = 0.05
TIMEOUT = 30.0
"""Seconds a request may take on a busy machine before it counts as failed."""
UPLOAD = os.urandom(256 * 1024)
UPLOAD_SHA = hashlib.sha256(UPLOAD).hexdigest()
PHP_WINDOW = 10.0
"""Seconds after php-cgi is killed in which a PHP page may fail."""
REDIS_DOWN = 3.0
REDIS_WINDOW = 10.0
"""Seconds after Redis is back in which a Redis-backed page may still fail (the client reconnects)."""
MEMORY_GROWTH = 0.05
PRIME_REQUESTS = 200
PRIME_ROUNDS = 30
PRIME_CALM_KIB = 256
"""Before the run, each target is asked for in rounds of PRIME_REQUESTS until two rounds in a row grow the
worker by less than PRIME_CALM_KIB (PRIME_ROUNDS at most)."""

SITE = {
    "index.html": "<!doctype html><title>soak</title><p>soak</p>\n",
    "big.css": "body { color: #123456 }\n" * 4000,
    "lua.lua": "print('lua ' .. (request.query.n or ''))\n",
    "wren.wren": 'System.print("wren %(Request.query["n"])")\n',
    "py.py": "def handle(request, response):\n    response.write('py ' + request.query.get('n', ''))\n",
    "php.php": "<?php echo 'php ', $_GET['n'] ?? '';\n",
    "cached.lua": "response.cache(2)\nprint('cached ' .. tostring(os.time()))\n",
    "count.lua": "print('count ' .. cache.incr('soak:count', 1))\n",
    "count-php.php": "<?php echo 'count ', dynlan_cache_incr('soak:count', 1);\n",
    "upload.py": ("import hashlib\n\ndef handle(request, response):\n"
                  "    response.write(hashlib.sha256(request.body()).hexdigest())\n"),
    "upload-php.php": "<?php echo hash('sha256', file_get_contents('php://input'));\n",
    "reloaded.lua": "print('version 1')\n",
}


@dataclass(frozen=True)
class Target:
    method: str
    path: str
    expect: Callable[[bytes], bool]
    kind: str
    """What a fault may explain: "php", "redis", "php+redis" or "" (nothing)."""
    body: bytes = b""


def _starts(prefix: str) -> Callable[[bytes], bool]:
    return lambda body: body.decode(errors="replace").strip().startswith(prefix)


TARGETS = [
    Target("GET", "/", _starts("<!doctype html>"), ""),
    Target("GET", "/big.css", lambda b: b == SITE["big.css"].encode(), ""),
    Target("GET", "/lua?n=1", _starts("lua 1"), ""),
    Target("GET", "/wren?n=2", _starts("wren 2"), ""),
    Target("GET", "/py?n=3", _starts("py 3"), ""),
    Target("GET", "/php?n=4", _starts("php 4"), "php"),
    Target("GET", "/cached", _starts("cached "), ""),
    Target("GET", "/count", _starts("count "), "redis"),
    Target("GET", "/count-php", _starts("count "), "php+redis"),
    Target("POST", "/upload", lambda b: b.decode(errors="replace").strip() == UPLOAD_SHA, "", UPLOAD),
    Target("POST", "/upload-php", lambda b: b.decode(errors="replace").strip() == UPLOAD_SHA, "php", UPLOAD),
    Target("GET", "/reloaded", lambda b: b.strip() in (b"version 1", b"version 2"), ""),
]

MALFORMED = [
    b"GET / HTTP/1.1\r\nHost: localhost\r\nBad header line\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: localhost\r\nContent-Length: abc\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"GET /\x00 HTTP/1.1\r\nHost: localhost\r\n\r\n",
    b"\x16\x03\x01garbage that is not HTTP\r\n\r\n",
    # A page that reads the body meets the bad chunk size (a static file may be answered before its body is read).
    b"POST /upload HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
]


@dataclass
class Failure:
    at: float
    protocol: str
    target: Target | None
    what: str


@dataclass
class Faults:
    php_killed: float | None = None
    redis_stopped: float | None = None
    redis_started: float | None = None
    reloaded: float | None = None

    def explains(self, failure: Failure) -> str | None:
        kind = failure.target.kind if failure.target else ""
        if "php" in kind and self.php_killed is not None and self.php_killed <= failure.at <= self.php_killed + PHP_WINDOW:
            return "php-cgi killed"
        if "redis" in kind and self.redis_stopped is not None and failure.at >= self.redis_stopped:
            back = self.redis_started if self.redis_started is not None else float("inf")
            if failure.at <= back + REDIS_WINDOW:
                return "Redis restarted"
        return None


@dataclass
class Figures:
    sent: dict[str, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    malformed_answers: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, protocol: str, latency: float | None = None) -> None:
        with self.lock:
            self.sent[protocol] = self.sent.get(protocol, 0) + 1
            if latency is not None:
                self.latencies.append(latency)

    def fail(self, failure: Failure) -> None:
        with self.lock:
            self.failures.append(failure)


class Soak:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.warmup = min(120.0, seconds / 4)
        self.work = Path(tempfile.mkdtemp(prefix="dynlan-soak-"))
        self.site = self.work / "site"
        self.port = _free_port()
        self.redis_port = _free_port()
        self.figures = Figures()
        self.faults = Faults()
        self.start = 0.0
        self.stop = threading.Event()
        self.running = threading.Event()
        """Cleared to quiesce: every client closes its connections and waits (fd counts are taken then)."""
        self.idle: dict[str, threading.Event] = {}
        self.samples: list[tuple[float, int]] = []
        self.server: subprocess.Popen[bytes] | None = None
        self.redis: subprocess.Popen[bytes] | None = None

    # -- set-up ----------------------------------------------------------------------------------------

    def prepare(self) -> None:
        self.site.mkdir()
        for name, text in SITE.items():
            (self.site / name).write_text(text)
        self.cert, self.key = development_certificate(self.work)
        (self.work / "server.toml").write_text(
            f'[cache]\nbackend = "redis"\nurl = "redis://127.0.0.1:{self.redis_port}/0"\n\n'
            "[php]\nprocesses = 2\n\n[limits]\nwall_time = 20.0\n")

    def start_redis(self) -> None:
        self.redis = subprocess.Popen(
            ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_tcp(self.redis_port, self.redis)

    def stop_redis(self) -> None:
        if self.redis is not None and self.redis.poll() is None:
            self.redis.terminate()
            try:
                self.redis.wait(10)
            except subprocess.TimeoutExpired:
                self.redis.kill()
                self.redis.wait()

    def start_server(self) -> None:
        with open(self.work / "server.log", "wb") as log:
            self.server = subprocess.Popen(
                [sys.executable, "-m", "dynlan", "serve", str(self.site), "--port", str(self.port),
                 "--tls-cert", self.cert, "--tls-key", self.key, "--http3", "--config",
                 str(self.work / "server.toml"), "--no-access-log"],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        _wait_tcp(self.port, self.server)

    def stop_server(self) -> int | None:
        if self.server is None:
            return None
        if self.server.poll() is None:
            self.server.send_signal(signal.SIGTERM)
            try:
                self.server.wait(60)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait()
        code: int = self.server.returncode
        return code

    def worker(self) -> int:
        assert self.server is not None
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            workers: list[int] = [pid for pid in descendants(self.server.pid) if "--worker-process" in _cmdline(pid)]
            if len(workers) == 1:
                return workers[0]
            time.sleep(0.05)
        raise RuntimeError("no single worker process found")

    # -- traffic ---------------------------------------------------------------------------------------

    def _check(self, protocol: str, target: Target, status: int, body: bytes, started: float) -> None:
        self.figures.count(protocol, time.monotonic() - started)
        if status != 200 or not target.expect(body):
            self.figures.fail(Failure(self.now(), protocol, target, f"{status} {body[:80]!r}"))

    def now(self) -> float:
        return time.monotonic() - self.start

    def httpx_client(self, protocol: str) -> None:
        http2 = protocol == "h2"
        client: httpx.Client | None = None

        def send(target: Target) -> None:
            nonlocal client
            if client is None:
                client = httpx.Client(base_url=f"https://localhost:{self.port}", verify=False, http2=http2,
                                      http1=not http2, timeout=TIMEOUT)
            started = time.monotonic()
            try:
                r = client.request(target.method, target.path, content=target.body or None)
            except httpx.HTTPError as exc:
                self.figures.count(protocol)
                self.figures.fail(Failure(self.now(), protocol, target, f"{type(exc).__name__}: {exc}"))
                client.close()
                client = None
                return
            if http2 and r.http_version != "HTTP/2":
                self.figures.fail(Failure(self.now(), protocol, target, f"answered over {r.http_version}"))
            self._check(protocol, target, r.status_code, r.content, started)

        def close_on_pause() -> None:
            nonlocal client
            if client is not None:
                client.close()
                client = None

        self._run_paced(protocol, RATES[protocol], send, close_on_pause)
        close_on_pause()

    def _run_paced(self, protocol: str, rate: float, send: Callable[[Target], None],
                   on_pause: Callable[[], None]) -> None:
        """Send requests for random targets at `rate` per second until the run ends; when the run pauses, run
        `on_pause` (the client closes its connections) and wait."""
        paused = threading.Event()
        rng = random.Random(protocol)
        idle = self.idle[protocol]
        interval = 1.0 / rate
        next_at = time.monotonic()
        while not self.stop.is_set():
            if not self.running.is_set():
                if not paused.is_set():
                    on_pause()
                    paused.set()
                idle.set()
                self.running.wait(1.0)
                continue
            if paused.is_set():
                paused.clear()
                idle.clear()
                next_at = time.monotonic()
            delay = next_at - time.monotonic()
            if delay > 0:
                self.stop.wait(delay)
                continue
            next_at = max(next_at + interval, time.monotonic() - interval)
            send(rng.choice(TARGETS))
        idle.set()

    def h3_client(self) -> None:
        asyncio.run(self._h3())

    async def _h3(self) -> None:
        from aioquic.asyncio.client import connect

        protocol = "h3"
        rng = random.Random(protocol)
        idle = self.idle[protocol]
        interval = 1.0 / RATES[protocol]
        authority = f"localhost:{self.port}"
        while not self.stop.is_set():
            if not self.running.is_set():
                idle.set()
                await asyncio.sleep(0.05)
                continue
            idle.clear()
            try:
                async with connect("127.0.0.1", self.port, configuration=client_configuration(None),
                                   create_protocol=H3Client) as client:
                    assert isinstance(client, H3Client)
                    next_at = time.monotonic()
                    while not self.stop.is_set() and self.running.is_set():
                        delay = next_at - time.monotonic()
                        if delay > 0:
                            await asyncio.sleep(min(delay, 0.2))
                            continue
                        next_at = max(next_at + interval, time.monotonic() - interval)
                        target = rng.choice(TARGETS)
                        started = time.monotonic()
                        try:
                            r = await asyncio.wait_for(
                                client.request(target.method, authority, target.path, target.body), TIMEOUT)
                        except TimeoutError:
                            self.figures.count(protocol)
                            self.figures.fail(Failure(self.now(), protocol, target, "timed out"))
                            break
                        if r.reset:
                            self.figures.count(protocol)
                            self.figures.fail(Failure(self.now(), protocol, target, "stream reset"))
                            continue
                        self._check(protocol, target, r.status, r.body, started)
            except (ConnectionError, OSError) as exc:
                self.figures.count(protocol)
                self.figures.fail(Failure(self.now(), protocol, None, f"connection: {exc!r}"))
        idle.set()

    def malformed_client(self) -> None:
        protocol = "malformed"
        rate = sum(RATES.values()) * MALFORMED_SHARE / (1 - MALFORMED_SHARE)
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        context.set_alpn_protocols(["http/1.1"])

        def send(_target: Target) -> None:
            data = random.choice(MALFORMED)
            started = time.monotonic()
            answer = b""
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=TIMEOUT) as raw, \
                        context.wrap_socket(raw, server_hostname="localhost") as tls:
                    tls.sendall(data)
                    while chunk := tls.recv(65536):
                        answer += chunk
                        if b"\r\n\r\n" in answer:
                            break
            except (ssl.SSLError, ConnectionError):
                pass  # closed on us: a fine answer to garbage
            except OSError as exc:
                self.figures.count(protocol)
                self.figures.fail(Failure(self.now(), protocol, None, f"{data[:30]!r}: {exc!r}"))
                return
            self.figures.count(protocol, time.monotonic() - started)
            status = answer.split(b" ", 2)[1].decode(errors="replace") if answer.startswith(b"HTTP/1.1 ") else "closed"
            with self.figures.lock:
                self.figures.malformed_answers[status] = self.figures.malformed_answers.get(status, 0) + 1
            if status != "closed" and not status.startswith("4"):
                self.figures.fail(Failure(self.now(), protocol, None, f"{data[:30]!r} answered {status}"))

        self._run_paced(protocol, rate, send, lambda: None)

    # -- faults and measures ----------------------------------------------------------------------------

    def kill_php(self) -> None:
        assert self.server is not None
        php = [pid for pid in descendants(self.server.pid) if "php-cgi" in _cmdline(pid)]
        if not php:
            raise RuntimeError("no php-cgi process to kill")
        self.faults.php_killed = self.now()
        os.kill(php[0], signal.SIGKILL)
        print(f"[{self.now():6.1f}s] killed php-cgi {php[0]} (of {len(php)})", flush=True)

    def restart_redis(self) -> None:
        self.faults.redis_stopped = self.now()
        self.stop_redis()
        print(f"[{self.now():6.1f}s] Redis stopped", flush=True)
        time.sleep(REDIS_DOWN)  # Redis stays away this long: the outage the pages meet
        self.start_redis()
        self.faults.redis_started = self.now()
        print(f"[{self.now():6.1f}s] Redis started", flush=True)

    def reload(self) -> None:
        assert self.server is not None
        page = self.site / "reloaded.lua"
        fresh = self.site / ".reloaded.lua.new"
        fresh.write_text("print('version 2')\n")
        os.replace(fresh, page)
        # The site's own config changes too, and SIGHUP reloads it.
        (self.site / "dynlan.toml").write_text("[limits]\nwall_time = 20.0\n")
        self.server.send_signal(signal.SIGHUP)
        self.faults.reloaded = self.now()
        print(f"[{self.now():6.1f}s] page rewritten, SIGHUP sent", flush=True)

    def sample(self, pid: int) -> None:
        """The worker's RSS, twenty times over the run."""
        every = self.seconds / 20
        while not self.stop.wait(every):
            with contextlib.suppress(OSError):
                self.samples.append((self.now(), _rss_kib(pid)))

    def prime(self, pid: int) -> None:
        """Ask for each target over HTTP/1.1, in rounds, until the worker's RSS stops growing with it.

        A VM's collector lets its heap grow to a threshold before it first collects (Wren's after some two
        thousand requests of a small page), far more than the paced warm-up sends of each page: without this
        the run would measure that first growth, not a leak."""
        with httpx.Client(base_url=f"https://localhost:{self.port}", verify=False, timeout=TIMEOUT) as client:
            for target in TARGETS:
                calm, rounds, rss = 0, 0, _rss_kib(pid)
                while calm < 2 and rounds < PRIME_ROUNDS:
                    for _ in range(PRIME_REQUESTS):
                        client.request(target.method, target.path, content=target.body or None)
                    now = _rss_kib(pid)
                    calm = calm + 1 if now - rss < PRIME_CALM_KIB else 0
                    rss, rounds = now, rounds + 1
                print(f"primed {target.path}: {rounds * PRIME_REQUESTS} requests, RSS {rss} KiB", flush=True)

    def quiesced(self, pid: int) -> tuple[int, int]:
        """(open fds, RSS in KiB) of `pid` with every client's connections closed."""
        self.running.clear()
        for event in self.idle.values():
            event.wait()
        # The server closes its side as it reads each client's close: wait until the count settles.
        previous, stable_since = -1, time.monotonic()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            count = _fds(pid)
            if count != previous:
                previous, stable_since = count, time.monotonic()
            elif time.monotonic() - stable_since > 1.0:
                break
            time.sleep(0.1)
        # No traffic now: the worker's next heap trim comes within the interval (see the module docstring).
        time.sleep(MEMORY_TRIM_INTERVAL + 1.0)
        rss = _rss_kib(pid)
        assert self.server is not None
        php = 0
        for child in descendants(self.server.pid):
            if "php-cgi" in _cmdline(child):
                with contextlib.suppress(OSError):  # one recycled meanwhile
                    php += _rss_kib(child)
        print(f"[{self.now():6.1f}s] php-cgi processes: {php} KiB RSS in all", flush=True)
        self.running.set()
        return previous, rss

    # -- the run ------------------------------------------------------------------------------------------

    def run(self) -> int:
        threads: list[threading.Thread] = []
        try:
            self.prepare()
            self.start_redis()
            self.start_server()
            worker = self.worker()
            self.prime(worker)
            self.start = time.monotonic()
            self.running.set()
            for name in (*RATES, "malformed"):
                self.idle[name] = threading.Event()
            threads = [threading.Thread(target=self.httpx_client, args=("h1",), daemon=True),
                       threading.Thread(target=self.httpx_client, args=("h2",), daemon=True),
                       threading.Thread(target=self.h3_client, daemon=True),
                       threading.Thread(target=self.malformed_client, daemon=True)]
            threads.append(threading.Thread(target=self.sample, args=(worker,), daemon=True))
            for t in threads:
                t.start()
            plan: list[tuple[float, str, Callable[[], None]]] = [
                (self.warmup, "warm-up over", lambda: None),
                (self.seconds * 0.3, "kill php-cgi", self.kill_php),
                (self.seconds * 0.5, "restart Redis", self.restart_redis),
                (self.seconds * 0.7, "reload", self.reload),
            ]
            plan.sort(key=lambda step: step[0])
            before: tuple[int, int] | None = None
            for at, name, action in plan:
                self.stop.wait(max(0.0, at - self.now()))
                if name == "warm-up over":
                    before = self.quiesced(worker)
                    print(f"[{self.now():6.1f}s] after warm-up: {before[0]} fds, RSS {before[1]} KiB", flush=True)
                else:
                    action()
            self.stop.wait(max(0.0, self.seconds - self.now()))
            print("worker RSS (KiB) over the run: " + " ".join(f"{at:.0f}s:{rss}" for at, rss in self.samples),
                  flush=True)
            assert before is not None
            if self.worker() != worker:
                print("the worker process was replaced during the run", flush=True)
                return self.report(before, (0, 0), replaced=True)
            after = self.quiesced(worker)
            self.stop.set()
            self.running.set()
            for t in threads:
                t.join(TIMEOUT + 10)
            return self.report(before, after, replaced=False)
        finally:
            self.stop.set()
            self.running.set()
            code = self.stop_server()
            self.stop_redis()
            log = (self.work / "server.log").read_text(errors="replace")
            errors = [line for line in log.splitlines() if " ERROR " in line or "Traceback" in line]
            print(f"server exited with {code}; {len(errors)} error line(s) in its log", flush=True)
            for line in errors[:20]:
                print("  " + line)
            shutil.rmtree(self.work, ignore_errors=True)

    def report(self, before: tuple[int, int], after: tuple[int, int], *, replaced: bool) -> int:
        figures = self.figures
        total = sum(figures.sent.values())
        explained: dict[str, int] = {}
        unexplained: list[Failure] = []
        for failure in figures.failures:
            reason = self.faults.explains(failure)
            if reason is None:
                unexplained.append(failure)
            else:
                explained[reason] = explained.get(reason, 0) + 1
        latencies = sorted(figures.latencies)

        def pct(p: float) -> float:
            return latencies[min(len(latencies) - 1, int(len(latencies) * p))] * 1000 if latencies else 0.0

        growth = (after[1] - before[1]) / before[1] if before[1] else 0.0
        print()
        print(f"soak: {self.seconds:g} s, {total} requests ({total / self.seconds:.1f}/s): "
              + ", ".join(f"{k} {v}" for k, v in sorted(figures.sent.items())))
        print(f"latency: p50 {pct(0.5):.1f} ms, p99 {pct(0.99):.1f} ms, max {pct(1.0):.1f} ms")
        print("malformed requests answered: " + ", ".join(f"{k} x{v}" for k, v in sorted(figures.malformed_answers.items())))
        print(f"failures: {len(figures.failures)}; explained by faults: {explained or 'none'}; "
              f"unexplained: {len(unexplained)}")
        for failure in unexplained[:20]:
            path = failure.target.path if failure.target else "-"
            print(f"  [{failure.at:6.1f}s] {failure.protocol} {path}: {failure.what}")
        print(f"worker RSS: {before[1]} KiB after warm-up, {after[1]} KiB at the end ({growth:+.2%}, limit "
              f"+{MEMORY_GROWTH:.0%})")
        print(f"worker fds: {before[0]} after warm-up, {after[0]} at the end")
        ok = not unexplained and not replaced and growth < MEMORY_GROWTH and after[0] <= before[0]
        print("PASS" if ok else "FAIL", flush=True)
        return 0 if ok else 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_tcp(port: int, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    name = _cmdline(proc.pid).split(" ", 1)[0]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {port} after {timeout:g} s")


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


if __name__ == "__main__":
    sys.exit(Soak(SECONDS).run())
