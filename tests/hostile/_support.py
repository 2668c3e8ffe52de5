"""What the hostile-page suite shares: the two sites, the secrets, clients for every protocol, waits.

`a.test` is the attacker, `b.test` the victim, both served by one `dynlan serve` worker and
chosen by the `Host` header (`:authority` over HTTP/2 and HTTP/3). The victim's secrets are
random per test session: `_secret.txt` in the victim's site and the `session` cookie its client
sends. No answer the attacker gets, and nothing the attacker can store and read back later (its
cache namespace, files in its site), may ever contain either.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import h11
import httpx
from aioquic.asyncio.client import connect

from tests._h3client import H3Client, client_configuration
from tests._server import RunningServer

SITES = Path(__file__).parent / "sites"
ATTACKER = "a.test"
VICTIM = "b.test"
RUNTIMES = ("lua", "wren", "python", "php")
EXTENSIONS = {"lua": "lua", "wren": "wren", "python": "py", "php": "php"}
PROTOCOLS = ("http1", "http2", "http3")

WALL_TIME = 2.0
"""The page wall-time budget of every server in the suite (seconds)."""
WATCHDOG_GRACE = 1.0
"""How long past the wall time a blocked worker is tolerated before its watchdog acts."""
GRACE_PERIOD = 3.0
"""What in-flight requests get after SIGTERM."""
VICTIM_LATENCY = 1.0
"""The victim's hello answers within this while an attack runs (the issue's promise)."""
SLACK = 2.0
"""Added to budgets the server controls, for a busy machine."""

CONFIG = f"""
[limits]
wall_time = {WALL_TIME}
memory = 67108864

[server]
watchdog_grace = {WATCHDOG_GRACE}
grace_period = {GRACE_PERIOD}

[python]
sandbox = "process"
workers = 2

[php]
processes = 2
"""
"""The server config of the suite: small budgets, and the Python process sandbox (sites are hostile)."""


@dataclass(frozen=True)
class Secrets:
    file: str
    """The content of the victim's `_secret.txt`."""
    cookie: str
    """The value of the `session` cookie the victim's client sends."""

    @property
    def all(self) -> tuple[str, str]:
        return self.file, self.cookie

    @property
    def cookie_header(self) -> dict[str, str]:
        return {"Cookie": f"session={self.cookie}"}


def build_sites(root: Path, secrets: Secrets) -> Path:
    """A fresh copy of the two sites under `root`, with this session's secret in the victim's site."""
    shutil.copytree(SITES, root, dirs_exist_ok=True)
    (root / VICTIM / "_secret.txt").write_text(secrets.file)
    # A link the attacker could have planted in its own site (an upload, PHP's symlink()): it points
    # at the victim's secret, so following it must never count as "the attacker's own file".
    (root / ATTACKER / "link.txt").symlink_to(root / VICTIM / "_secret.txt")
    return root


# -- answers and clients ---------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    protocol: str
    elapsed: float = 0.0

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k == name.lower():
                return v
        return None

    @property
    def request_id(self) -> str | None:
        """The id an error page shows (the server log's lines about this request carry it)."""
        found = re.search(r"request id ([0-9a-f]+)", self.text)
        return found.group(1) if found else None

    def everything(self) -> str:
        """Status line, headers and body as one string, for looking for secrets anywhere in it."""
        head = "".join(f"{k}: {v}\n" for k, v in self.headers)
        return f"{self.status}\n{head}\n{self.body.decode('latin-1')}"


class Client(Protocol):
    protocol: str
    server: RunningServer

    def get(self, host: str, path: str, headers: dict[str, str] | None = None,
            timeout: float = 20) -> Answer: ...

    def exchange(self, requests: list[tuple[str, str, dict[str, str]]], timeout: float = 20) -> list[Answer]:
        """(host, path, headers) requests one after another, on one connection where the protocol can."""
        ...

    def close(self) -> None: ...


class HttpxClient:
    """HTTP/1.1 (keep-alive connections, one more for each request made while others are in flight), or
    HTTP/2 as h2c with prior knowledge (one connection)."""

    def __init__(self, server: RunningServer, http2: bool) -> None:
        self.server = server
        self.protocol = "http2" if http2 else "http1"
        self._client = httpx.Client(base_url=server.url, http1=not http2, http2=http2, timeout=20)

    def get(self, host: str, path: str, headers: dict[str, str] | None = None,
            timeout: float = 20) -> Answer:
        started = time.monotonic()
        # httpx sends the Host header as :authority over HTTP/2.
        r = self._client.get(path, headers={"Host": host, **(headers or {})}, timeout=timeout)
        want = "HTTP/2" if self.protocol == "http2" else "HTTP/1.1"
        assert r.http_version == want, f"answered over {r.http_version}, not {want}"
        return Answer(r.status_code, [(k.lower(), v) for k, v in r.headers.multi_items()], r.content,
                      self.protocol, time.monotonic() - started)

    def exchange(self, requests: list[tuple[str, str, dict[str, str]]], timeout: float = 20) -> list[Answer]:
        return [self.get(host, path, headers, timeout) for host, path, headers in requests]

    def close(self) -> None:
        self._client.close()


class Http3Client:
    """HTTP/3 with aioquic: a QUIC connection per call of `get`, or several requests on one (`exchange`)."""

    protocol = "http3"

    def __init__(self, server: RunningServer) -> None:
        self.server = server

    def get(self, host: str, path: str, headers: dict[str, str] | None = None,
            timeout: float = 20) -> Answer:
        started = time.monotonic()
        (answer,) = self.exchange([(host, path, headers or {})], timeout)
        answer.elapsed = time.monotonic() - started
        return answer

    def exchange(self, requests: list[tuple[str, str, dict[str, str]]], timeout: float = 20) -> list[Answer]:
        """Send the requests one after another on one QUIC connection."""

        async def run() -> list[Answer]:
            async with connect("127.0.0.1", self.server.port, configuration=client_configuration(None),
                               create_protocol=H3Client) as quic:
                assert isinstance(quic, H3Client)
                out: list[Answer] = []
                for host, path, headers in requests:
                    r = await quic.request("GET", host, path, headers=headers)
                    assert not r.reset, f"{host}{path}: the server reset the stream"
                    out.append(Answer(r.status, list(r.headers.items()), r.body, "http3"))
                return out

        return asyncio.run(asyncio.wait_for(run(), timeout))

    def close(self) -> None:
        pass


def make_client(protocol: str, plain: Callable[[], RunningServer], tls: Callable[[], RunningServer]) -> Client:
    if protocol == "http3":
        return Http3Client(tls())
    return HttpxClient(plain(), http2=protocol == "http2")


class RawHttp1:
    """HTTP/1.1 over one socket, parsed strictly by h11 as a client: what a response puts on the wire
    (a 1xx as the final answer, a header a client cannot parse, a connection that went out of step)
    shows as an h11 error here instead of being smoothed over."""

    def __init__(self, port: int, timeout: float = 10) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.conn = h11.Connection(h11.CLIENT)

    def get(self, host: str, path: str, headers: dict[str, str] | None = None) -> Answer:
        if self.conn.our_state is h11.DONE:
            self.conn.start_next_cycle()
        fields = [("Host", host), *(headers or {}).items()]
        started = time.monotonic()
        self.sock.sendall(self.conn.send(h11.Request(method="GET", target=path, headers=fields)) or b"")
        self.sock.sendall(self.conn.send(h11.EndOfMessage()) or b"")
        status = 0
        head: list[tuple[str, str]] = []
        body = b""
        while True:
            event = self.conn.next_event()
            if event is h11.NEED_DATA:
                data = self.sock.recv(65536)
                self.conn.receive_data(data)
                continue
            if isinstance(event, h11.InformationalResponse):
                raise AssertionError(f"{host}{path}: a {event.status_code} response reached the client")
            if isinstance(event, h11.Response):
                status = event.status_code
                head = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in event.headers]
            elif isinstance(event, h11.Data):
                body += bytes(event.data)
            elif isinstance(event, h11.EndOfMessage):
                return Answer(status, head, body, "http1", time.monotonic() - started)
            elif isinstance(event, h11.ConnectionClosed):
                raise AssertionError(f"{host}{path}: the connection closed before the response ended")

    @property
    def reusable(self) -> bool:
        return self.conn.our_state is h11.DONE and self.conn.their_state is h11.DONE

    def close(self) -> None:
        self.sock.close()


# -- checks ---------------------------------------------------------------------------------


def why(server: RunningServer, answer: Answer) -> str:
    """An answer and what the server logged about it: the reason a page failed, for the report."""
    rid = answer.request_id
    lines: list[str] = []
    taking = False
    for line in server.log().splitlines():
        if rid and rid in line:
            taking = True
        elif re.match(r"\d{4}-\d\d-\d\d", line):
            taking = False
        if taking:
            lines.append(line)
    return f"{answer.status} {answer.text[:500]!r}\nserver log:\n" + "\n".join(lines[-30:])


def assert_no_secret(secrets: Secrets, *answers: Answer, what: str = "the attacker") -> None:
    for answer in answers:
        seen = answer.everything()
        for secret in secrets.all:
            assert secret not in seen, f"{what} received a secret of {VICTIM}:\n{seen[:2000]}"


def files_holding(root: Path, needles: Iterable[str]) -> list[str]:
    """Files under `root` (links not followed) whose bytes hold any of `needles`."""
    wanted = [n.encode() for n in needles]
    found: list[str] = []
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = Path(dirpath) / name
            if path.is_symlink():
                continue
            with contextlib.suppress(OSError):
                data = path.read_bytes()
                if any(n in data for n in wanted):
                    found.append(str(path.relative_to(root)))
    return found


def assert_no_loot(client: Client, secrets: Secrets, sites: Path) -> None:
    """Nothing of the victim's in what the attacker can read back later: its cache namespace (one
    Lua page reads the site's `loot` key: the cache is one namespace per site, whatever the
    language) and the files in its own site."""
    answer = client.get(ATTACKER, "/lua/loot.lua")
    assert answer.status == 200, answer.text
    assert_no_secret(secrets, answer, what="the attacker's cache")
    leaked = files_holding(sites / ATTACKER, secrets.all)
    assert not leaked, f"files in {ATTACKER} hold a secret of {VICTIM}: {leaked}"


def hello_text(runtime: str) -> str:
    return f"hello from {VICTIM} in {runtime}\n"


def page(runtime: str, name: str) -> str:
    """The URL of a page: each language's pages are in a folder of its own (`/lua/hello.lua`), since
    two pages of one folder may not share a name."""
    return f"/{runtime}/{name}.{EXTENSIONS[runtime]}"


def hello_path(runtime: str) -> str:
    return page(runtime, "hello")


# -- waits and processes ---------------------------------------------------------------------


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.02)


def wait_log(server: RunningServer, marker: str, timeout: float = 20) -> None:
    """Wait until the server log has a line with `marker` (pages log one when they are in flight)."""
    wait_for(lambda: marker in server.log(), f"'{marker}' in the server log", timeout)


def processes_with(marker: str) -> list[int]:
    """Live processes (zombies excluded) whose command line holds `marker`."""
    pids: list[int] = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read()
            with open(f"/proc/{entry}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker.encode() in cmdline and state != "Z":
            pids.append(int(entry))
    return pids


def threads_named(name: str) -> list[tuple[int, int]]:
    """(pid, tid) of live threads whose kernel name (`comm`) is `name`."""
    found: list[tuple[int, int]] = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError):
            for tid in os.listdir(f"/proc/{entry}/task"):
                with contextlib.suppress(OSError), open(f"/proc/{entry}/task/{tid}/comm") as f:
                    if f.read().strip() == name:
                        found.append((int(entry), int(tid)))
    return found


def kill_marked(marker: str) -> None:
    """Stop what a test's attack started and the server failed to stop (so that a failing test leaves
    nothing behind): processes carrying the test's unique marker."""
    for pid in processes_with(marker):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def unique_sleep() -> str:
    """A `sleep` duration no other process has on its command line: the marker of a test's children."""
    return f"{1000 + int.from_bytes(os.urandom(2), 'big') % 1000}.{int.from_bytes(os.urandom(4), 'big'):010d}"


# -- the victim's latency while an attack runs -------------------------------------------------


@dataclass
class AttackRun:
    answer: Answer | None = None
    error: BaseException | None = None
    elapsed: float = 0.0
    latencies: dict[str, list[float]] = field(default_factory=dict)


def victim_latency_during(server: RunningServer, attack: Callable[[], Answer], marker: str,
                          runtimes: Iterable[str] = RUNTIMES, rounds: int = 3) -> AttackRun:
    """Run `attack` in a thread; once the server log shows `marker` (the attack is in flight), time the
    victim's hello page of each runtime over a warmed-up keep-alive connection, up to `rounds` times
    while the attack runs. Each hello must answer correctly within VICTIM_LATENCY."""
    run = AttackRun()
    pages = list(runtimes)
    with httpx.Client(base_url=server.url, timeout=30) as victim:
        for rt in pages:  # warm up: pools started, pages compiled
            r = victim.get(hello_path(rt), headers={"Host": VICTIM})
            assert r.status_code == 200 and r.text == hello_text(rt), (rt, r.status_code, r.text[:300])

        def attacker() -> None:
            started = time.monotonic()
            try:
                run.answer = attack()
            except BaseException as exc:  # reported by the test that reads `run.error`
                run.error = exc
            run.elapsed = time.monotonic() - started

        thread = threading.Thread(target=attacker)
        thread.start()
        try:
            wait_log(server, marker)
            for i in range(rounds):
                if i and not thread.is_alive():
                    break
                for rt in pages:
                    t0 = time.monotonic()
                    try:
                        r = victim.get(hello_path(rt), headers={"Host": VICTIM}, timeout=10)
                    except httpx.HTTPError as exc:
                        raise AssertionError(f"{VICTIM}'s {rt} hello failed while the attack ran: {exc!r}") from exc
                    took = time.monotonic() - t0
                    run.latencies.setdefault(rt, []).append(took)
                    assert r.status_code == 200 and r.text == hello_text(rt), (rt, r.status_code, r.text[:300])
        finally:
            thread.join(60)
    print(f"attack: {run.elapsed:.2f} s, status {run.answer.status if run.answer else run.error!r}; victim latencies:",
          {rt: [round(t, 3) for t in ts] for rt, ts in run.latencies.items()})
    slow = {rt: [round(t, 3) for t in ts] for rt, ts in run.latencies.items() if max(ts) >= VICTIM_LATENCY}
    assert not slow, f"{VICTIM}'s hello took {VICTIM_LATENCY} s or more while the attack ran: {slow}"
    return run
