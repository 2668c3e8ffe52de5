"""The `proxy` rule end to end: a real `dynlan serve` in front of real upstreams (Hypercorn apps the suite starts,
`tests/e2e/_proxy_upstream.py`), with real clients (httpx over HTTP/1.1 and HTTP/2, curl, h2load)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h2.config
import h2.connection
import h2.events
import h11
import httpx
import pytest
from websockets.exceptions import ConnectionClosedOK, InvalidStatus
from websockets.sync.client import connect as ws_connect
from websockets.typing import Subprotocol
from wsproto.events import BytesMessage, TextMessage

from dynlan.server._control import send_to_server
from tests._h3client import H3Response
from tests._server import RunningServer, free_port, run_dynlan, wait_port
from tests.e2e._wsclient import H2WebSocket

ROOT = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def upstream(name: str, bind: str | None = None) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """A Hypercorn upstream named `name` on `bind` (a free port by default); yields (process, bind)."""
    bind = bind or f"127.0.0.1:{free_port()}"
    proc = _start_upstream(name, bind)
    try:
        yield proc, bind
    finally:
        _stop(proc)


def _start_upstream(name: str, bind: str) -> subprocess.Popen[bytes]:
    log = open(Path(tempfile.gettempdir()) / f"dynlan-upstream-{os.getpid()}-{name}.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "hypercorn", "-k", "trio", "--workers", "0", "--bind", bind, "tests.e2e._proxy_upstream:app"],
        cwd=ROOT, env={**os.environ, "UPSTREAM_NAME": name}, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    if bind.startswith("unix:"):
        deadline = time.monotonic() + 30
        while not os.path.exists(bind[5:]):
            assert proc.poll() is None and time.monotonic() < deadline, "the upstream did not start"
            time.sleep(0.05)
    else:
        wait_port(int(bind.rpartition(":")[2]), proc)
    return proc


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(10)


def site_config(a: str, b: str, sock: str, dead: str, hole: str) -> str:
    return f"""
[[route]]
path = "/api/*"
proxy = {{ upstreams = ["http://{a}", "http://{b}"], strip_prefix = true, health = {{ path = "/health", interval = 0.5, fails = 1, timeout = 2.0 }}, eject = {{ fails = 1, seconds = 60.0 }} }}

[[route]]
path = "/keep/*"
proxy = {{ upstreams = ["http://{a}"] }}

[[route]]
path = "/named/*"
proxy = {{ upstreams = ["http://{a}"], host = "backend.internal", strip_prefix = true }}
headers = {{ set = {{ "x-rule" = "named" }} }}

[[route]]
path = "/dead/*"
proxy = {{ upstreams = ["http://{dead}"], timeouts = {{ connect = 5.0 }} }}

[[route]]
path = "/mixed/*"
proxy = {{ upstreams = ["http://{dead}", "http://{a}"], eject = {{ fails = 1000 }} }}

[[route]]
path = "/slow/*"
proxy = {{ upstreams = ["http://{a}"], strip_prefix = true, timeouts = {{ read = 0.5 }} }}

[[route]]
path = "/sticky/*"
proxy = {{ upstreams = ["http://{a}", "http://{b}"], policy = "cookie", strip_prefix = true }}

[[route]]
path = "/hash/*"
proxy = {{ upstreams = ["http://{a}", "http://{b}"], policy = "ip_hash", strip_prefix = true }}

[[route]]
path = "/least/*"
proxy = {{ upstreams = ["http://{a}", "http://{b}"], policy = "least_conn", strip_prefix = true }}

[[route]]
path = "/two/*"
proxy = {{ upstreams = ["http://{a}", "http://{b}"], policy = "random_two", strip_prefix = true }}

[[route]]
path = "/sock/*"
proxy = {{ upstreams = ["unix:{sock}"], strip_prefix = true }}

[[route]]
path = "/hole/*"
proxy = {{ upstreams = ["http://{hole}"], timeouts = {{ connect = 0.5 }} }}

[[route]]
path = "/hole-then-a/*"
proxy = {{ upstreams = ["http://{hole}", "http://{a}"], timeouts = {{ connect = 0.5 }}, eject = {{ fails = 1000 }} }}
"""


@contextlib.contextmanager
def black_hole() -> Iterator[str]:
    """An address whose connections never complete: a listener with a backlog of 0 whose one place in the accept
    queue is taken by a connection never accepted (Linux then drops further SYNs, and a connect waits until its
    timeout), deterministic on loopback."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=0)
    filler = socket.create_connection(listener.getsockname(), timeout=10)
    try:
        yield "{}:{}".format(*listener.getsockname())
    finally:
        filler.close()
        listener.close()


LOOPBACK = '[outbound]\nallow = ["127.0.0.1:*"]\n'
"""The server's grant of the machine's loopback ports to sites' proxy rules (docs/proxy.md)."""

SERVER_CONFIG = """
[http]
max_body_size = 209715200
body_timeout = 60.0

[server]
grace_period = 5.0
trusted_proxies = ["10.9.9.9/32"]
"""


class Upstreams:
    def __init__(self, root: Path, server: RunningServer, procs: dict[str, subprocess.Popen[bytes]],
                 binds: dict[str, str]) -> None:
        self.root = root
        self.server = server
        self.procs = procs
        self.binds = binds


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upstreams]:
    base = tmp_path_factory.mktemp("proxy")
    root = base / "site"
    (root / "errors").mkdir(parents=True)
    (root / "index.html").write_text("home\n")
    (root / "errors" / "502.html").write_text("<h1>our own bad gateway page</h1>\n")
    (root / "errors" / "504.html").write_text("<h1>our own gateway timeout page</h1>\n")
    sock = str(base / "up.sock")
    dead = f"127.0.0.1:{free_port()}"  # nothing listens there
    with upstream("a") as (a, a_bind), upstream("b") as (b, b_bind), upstream("s", f"unix:{sock}") as (s, _), \
            black_hole() as hole:
        (root / "dynlan.toml").write_text(site_config(a_bind, b_bind, sock, dead, hole))
        grant = f'[outbound]\nallow = ["127.0.0.1:*", "unix:{sock}"]\n'
        with run_dynlan(root, config=SERVER_CONFIG + grant) as server:
            ups = Upstreams(root, server, {"a": a, "b": b, "s": s}, {"a": a_bind, "b": b_bind})
            try:
                yield ups
            finally:
                for proc in ups.procs.values():
                    _stop(proc)  # those a test started again too


def seen(r: httpx.Response) -> dict[str, Any]:
    """What the upstream saw of the request (its JSON echo)."""
    assert r.status_code == 200, r.text
    info: dict[str, Any] = json.loads(r.content)
    return info


def fields(info: dict[str, Any], name: str) -> list[str]:
    return [v for k, v in info["headers"] if k == name]


def test_round_robin_strips_the_prefix_and_keeps_the_query(proxied: Upstreams) -> None:
    with httpx.Client(base_url=proxied.server.url, timeout=30) as c:
        infos = [seen(c.get("/api/items/7?x=1&y=%2F")) for _ in range(6)]
    assert {i["name"] for i in infos} == {"a", "b"}
    names = [i["name"] for i in infos]
    assert all(names[i] != names[i + 1] for i in range(5)), names
    assert {(i["method"], i["path"], i["query"]) for i in infos} == {("GET", "/items/7", "x=1&y=%2F")}


def test_the_prefix_stays_without_strip_prefix_and_escapes_pass_as_written(proxied: Upstreams) -> None:
    with httpx.Client(base_url=proxied.server.url, timeout=30) as c:
        assert seen(c.get("/keep/a%2Fb/c"))["path"] == "/keep/a%2Fb/c"
        assert seen(c.get("/api"))["path"] == "/"
    # A path with dot segments goes upstream as the rules saw it, never as written.
    out = subprocess.run(["curl", "-sS", "--path-as-is", proxied.server.url + "/keep/x/./y//z"], capture_output=True,
                         text=True, timeout=30, check=True).stdout
    assert json.loads(out)["path"] == "/keep/x/y/z"


def test_forwarding_fields_are_set_and_a_clients_own_are_not_believed(proxied: Upstreams) -> None:
    with httpx.Client(base_url=proxied.server.url, timeout=30) as c:
        info = seen(c.get("/api/who", headers={"x-forwarded-for": "1.2.3.4", "forwarded": "for=1.2.3.4",
                                               "x-forwarded-host": "evil.example", "via": "1.0 client-side"}))
    assert fields(info, "x-forwarded-for") == ["127.0.0.1"]
    assert fields(info, "x-forwarded-proto") == ["http"]
    assert fields(info, "x-forwarded-host") == [f"127.0.0.1:{proxied.server.port}"]
    assert fields(info, "forwarded") == [f'for=127.0.0.1;proto=http;host="127.0.0.1:{proxied.server.port}"']
    assert fields(info, "via") == ["1.0 client-side, 1.1 dynlan"]
    assert fields(info, "host") == [f"127.0.0.1:{proxied.server.port}"]  # preserved by default


def test_host_set_by_config_and_rule_headers_apply(proxied: Upstreams) -> None:
    r = httpx.get(proxied.server.url + "/named/x", timeout=30)
    assert fields(seen(r), "host") == ["backend.internal"]
    assert r.headers["x-rule"] == "named"


def test_hop_by_hop_fields_are_dropped_both_ways(proxied: Upstreams) -> None:
    r = httpx.get(proxied.server.url + "/api/hop", timeout=30,
                  headers={"connection": "keep-alive, x-private", "x-private": "1", "proxy-authorization": "Basic eA==",
                           "te": "trailers", "keep-alive": "timeout=5", "x-end-to-end": "yes"})
    info = seen(r)
    names = {k for k, _ in info["headers"]}
    assert names.isdisjoint({"x-private", "proxy-authorization", "keep-alive"})
    assert "x-end-to-end" in names
    # The one hop-by-hop value passed on: the client takes trailers (RFC 9110 §10.1.4, a connection option).
    assert fields(info, "te") == ["trailers"] and fields(info, "connection") == ["te"]
    info = seen(httpx.get(proxied.server.url + "/api/hop", headers={"te": "gzip, deflate;q=0.5"}, timeout=30))
    assert not fields(info, "te") and not fields(info, "connection")
    # The upstream's response named x-hop in its Connection field and sent Keep-Alive: neither reaches us.
    assert "x-hop" not in r.headers and "keep-alive" not in r.headers
    assert r.headers["via"] == "1.1 dynlan"
    assert len(r.headers.get_list("date")) == 1 and r.headers["server"].startswith("dynlan")


def test_chunked_response_head_and_a_unix_socket_upstream(proxied: Upstreams) -> None:
    r = httpx.get(proxied.server.url + "/api/chunks?n=50", timeout=30)
    assert r.text == "".join(f"chunk {i}\n" for i in range(50))
    with httpx.Client(base_url=proxied.server.url, timeout=30) as c:
        for _ in range(3):  # HEAD leaves the kept-alive upstream connection ready for the next request
            r = c.head("/api/big?n=1000")
            assert r.status_code == 200 and r.headers["content-length"] == "1000" and r.content == b""
            assert len(c.get("/api/big?n=1000").content) == 1000
    assert seen(httpx.get(proxied.server.url + "/sock/u", timeout=30))["name"] == "s"


def test_http2_client_to_http1_upstream(proxied: Upstreams) -> None:
    with httpx.Client(base_url=proxied.server.url, http1=False, http2=True, timeout=30) as c:
        r = c.post("/api/upload", content=b"z" * 300_000)
        assert r.http_version == "HTTP/2"
        info = seen(r)
        assert info["body_bytes"] == 300_000 and info["method"] == "POST"
        assert fields(info, "via") == ["2 dynlan"]
        # A body of unknown length (a generator: DATA frames without content-length) goes upstream chunked.
        r = c.post("/api/upload", content=iter([b"a" * 1000, b"b" * 5000]))
        assert seen(r)["body_bytes"] == 6000
        assert seen(c.get("/api/get"))["body_bytes"] == 0
        r = c.get("/api/big?n=1000000")
        assert len(r.content) == 1_000_000


def test_unreachable_upstream_is_502_with_the_sites_error_page(proxied: Upstreams) -> None:
    r = httpx.get(proxied.server.url + "/dead/x", timeout=30)
    assert r.status_code == 502
    assert "our own bad gateway page" in r.text


def test_a_refused_connection_is_tried_on_the_next_upstream(proxied: Upstreams) -> None:
    with httpx.Client(base_url=proxied.server.url, timeout=30) as c:
        # Round robin sends every other request to the dead one (never ejected here): each goes on to a.
        for method in ("GET", "POST", "DELETE", "GET"):
            r = c.request(method, "/mixed/x", content=b"body" if method == "POST" else None)
            assert seen(r)["name"] == "a" and seen(r)["method"] == method


def test_a_connect_timeout_is_504_with_the_sites_error_page(proxied: Upstreams) -> None:
    started = time.monotonic()
    r = httpx.get(proxied.server.url + "/hole/x", timeout=30)
    assert r.status_code == 504 and "our own gateway timeout page" in r.text, r.text
    assert time.monotonic() - started < 10  # the connect timeout (0.5 s), not the kernel's (minutes)
    assert "no connection within 0.5s" in proxied.server.log()
    # With another upstream in the list, the request goes on to it (nothing was sent to the first).
    with httpx.Client(base_url=proxied.server.url, timeout=30) as c:
        assert {seen(c.post("/hole-then-a/x", content=b"body"))["name"] for _ in range(2)} == {"a"}


def test_upstream_timeout_is_504(proxied: Upstreams) -> None:
    started = time.monotonic()
    r = httpx.get(proxied.server.url + "/slow/slow?s=5", timeout=30)
    assert r.status_code == 504
    assert time.monotonic() - started < 4.5  # the read timeout (0.5 s), not the upstream's 5 s
    assert httpx.get(proxied.server.url + "/slow/slow?s=0.01", timeout=30).text == "slow done"


def test_a_response_the_upstream_breaks_off_is_broken_off(proxied: Upstreams) -> None:
    for http2 in (False, True):
        with httpx.Client(base_url=proxied.server.url, http1=not http2, http2=http2, timeout=30) as c:
            with pytest.raises(httpx.RemoteProtocolError):
                c.get("/api/cut")  # never a complete-looking response
            assert seen(c.get("/api/x"))["name"] in ("a", "b")  # HTTP/2: the connection's other streams go on
    assert "Traceback" not in proxied.server.log()


def test_sticky_cookie_keeps_a_client_on_one_upstream(proxied: Upstreams) -> None:
    with httpx.Client(base_url=proxied.server.url, timeout=30) as c:
        first = c.get("/sticky/x")
        cookie = first.headers["set-cookie"]
        assert cookie.startswith("dynlan_upstream=") and "HttpOnly" in cookie
        value = cookie.split(";")[0].partition("=")[2]
        assert "127.0.0.1" not in value and proxied.binds["a"].split(":")[1] not in value
        name = seen(first)["name"]
        for _ in range(5):
            r = c.get("/sticky/x")  # the client sends the cookie back
            assert seen(r)["name"] == name and "set-cookie" not in r.headers
    # A forged id is not an upstream: a new one is chosen and named in a new cookie.
    r = httpx.get(proxied.server.url + "/sticky/x", cookies={"dynlan_upstream": "0" * 20}, timeout=30)
    assert "set-cookie" in r.headers


def test_ip_hash_least_conn_and_random_two_answer(proxied: Upstreams) -> None:
    with httpx.Client(base_url=proxied.server.url, timeout=30) as c:
        assert len({seen(c.get("/hash/x"))["name"] for _ in range(6)}) == 1
        assert {seen(c.get("/least/x"))["name"] for _ in range(6)} <= {"a", "b"}
        assert {seen(c.get("/two/x"))["name"] for _ in range(6)} <= {"a", "b"}
    # One client on new connections too.
    assert len({seen(httpx.get(proxied.server.url + "/hash/x", timeout=30))["name"] for _ in range(3)}) == 1


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+) kB", f.read()).group(1))  # type: ignore[union-attr]


def test_100_mib_up_and_down_stay_memory_bounded(proxied: Upstreams) -> None:
    pid = proxied.server.worker_pid()
    size = 100 * 1024 * 1024
    with httpx.Client(base_url=proxied.server.url, timeout=120) as c:
        seen(c.post("/api/upload", content=b"w" * 1000))  # warm up the path and its pools
        before = rss_kib(pid)
        got = 0
        with c.stream("GET", f"/api/big?n={size}") as r:
            assert r.status_code == 200 and r.headers["content-length"] == str(size)
            for chunk in r.iter_raw():
                got += len(chunk)
        assert got == size

        def body() -> Iterator[bytes]:
            block = b"u" * (256 * 1024)
            for _ in range(size // len(block)):
                yield block

        info = seen(c.post("/api/upload", content=body()))
        assert info["body_bytes"] == size
        assert fields(info, "transfer-encoding") == ["chunked"]
        grown = rss_kib(pid) - before
    print(f"worker RSS grew by {grown} KiB over 100 MiB down and 100 MiB up")
    # Buffering either body would cost 100 MiB; streaming costs a few chunks.
    assert grown < 40 * 1024, f"the worker grew by {grown} KiB"


def test_a_sites_proxy_reaches_only_what_the_server_grants(tmp_path: Path) -> None:
    # Sites do not trust each other: a site's own rule may not point the server at the machine. A loopback
    # address is refused when the site is read; a name that resolves to one is refused at each connect (502),
    # and the listener behind it never sees a connection.
    (tmp_path / "index.html").write_text("x")
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        (tmp_path / "dynlan.toml").write_text(f'[[route]]\npath = "/in/*"\n'
                                               f'proxy = {{ upstreams = ["http://127.0.0.1:{port}"] }}\n')
        done = subprocess.run([sys.executable, "-m", "dynlan", "check", str(tmp_path)], capture_output=True,
                              text=True, timeout=60)
        assert done.returncode != 0 and "route[0].proxy.upstreams[0]" in done.stderr, done.stderr
        assert "outbound.allow" in done.stderr
        (tmp_path / "dynlan.toml").write_text(f'[[route]]\npath = "/in/*"\n'
                                               f'proxy = {{ upstreams = ["http://localhost:{port}"] }}\n')
        with run_dynlan(tmp_path, "--no-access-log") as server:
            r = httpx.get(f"{server.url}/in/x", timeout=30)
            assert r.status_code == 502, r.text
            assert "localhost resolves to" in server.log(), server.log()
        listener.setblocking(False)
        with pytest.raises(BlockingIOError):
            listener.accept()


def test_config_errors_name_the_key(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("x")
    for table, key, words in [
        ('{ upstreams = ["http://127.0.0.1:1"], policy = "fastest" }', "route[1].proxy.policy", "fastest"),
        ('{ upstreams = ["ftp://127.0.0.1:1"] }', "route[1].proxy.upstreams[0]", "ftp"),
        ('{ upstreams = ["http://127.0.0.1:1"], timeouts = { read = -1 } }', "route[1].proxy.timeouts.read", "-1"),
    ]:
        (tmp_path / "dynlan.toml").write_text(f'[[route]]\npath = "/x"\nrespond = {{ body = "x" }}\n\n'
                                               f'[[route]]\npath = "/api/*"\nproxy = {table}\n')
        done = subprocess.run([sys.executable, "-m", "dynlan", "check", str(tmp_path)], capture_output=True,
                              text=True, timeout=60)
        assert done.returncode != 0
        assert key in done.stderr and words in done.stderr, done.stderr


def _api_names(server: RunningServer, n: int) -> list[str]:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        return [seen(c.get("/api/x"))["name"] for _ in range(n)]


def test_a_reload_with_a_bad_proxy_is_refused_and_a_good_one_applies(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("x")
    config = tmp_path / "dynlan.toml"
    with upstream("a") as (_, a), upstream("b") as (_, b):
        config.write_text(f'[[route]]\npath = "/api/*"\nproxy = {{ upstreams = ["http://{a}"] }}\n')
        with run_dynlan(tmp_path, "--no-access-log", config=LOOPBACK) as server:
            assert set(_api_names(server, 4)) == {"a"}
            config.write_text(f'[[route]]\npath = "/api/*"\nproxy = {{ upstreams = ["http://{b}"], policy = "x" }}\n')
            replies = send_to_server(server.port, {"op": "reload"}, timeout=60)
            assert replies and not replies[0]["ok"] and "route[0].proxy.policy" in replies[0]["error"]
            assert set(_api_names(server, 4)) == {"a"}
            config.write_text(f'[[route]]\npath = "/api/*"\nproxy = {{ upstreams = ["http://{b}"] }}\n')
            replies = send_to_server(server.port, {"op": "reload"}, timeout=60)
            assert replies and replies[0]["ok"], replies
            assert set(_api_names(server, 4)) == {"b"}


def test_a_websocket_is_passed_through_over_http1(proxied: Upstreams) -> None:
    url = proxied.server.url.replace("http://", "ws://") + "/keep/ws"
    with ws_connect(url, subprotocols=[Subprotocol("chat")], max_size=None, open_timeout=30) as ws:
        assert ws.subprotocol == "chat"
        seen = json.loads(ws.recv(timeout=30))
        assert seen["name"] == "a" and seen["path"] == "/keep/ws"
        names = [k for k, _ in seen["headers"]]
        assert "x-forwarded-for" in names and "via" in names and "sec-websocket-key" in names
        ws.send("hello")
        assert ws.recv(timeout=30) == "a: hello"
        blob = os.urandom(1 << 20)
        ws.send(blob)
        assert ws.recv(timeout=30) == blob
        ws.send("bye")
        with pytest.raises(ConnectionClosedOK):
            ws.recv(timeout=30)
        assert ws.close_code == 1000


def test_a_websocket_is_passed_through_from_http2(proxied: Upstreams) -> None:
    # RFC 8441 from the client, an HTTP/1.1 upgrade to the upstream: the frames are the same bytes.
    client = H2WebSocket(proxied.server.port, "/keep/ws", protocols="chat")
    try:
        assert client.status == 200 and client.headers.get("sec-websocket-protocol") == "chat", client.headers
        assert json.loads(client.message())["name"] == "a"
        client.send(TextMessage("over h2"))
        assert client.message() == "a: over h2"
        client.send(BytesMessage(b"\x00\x01" * 40000))
        assert client.message() == b"\x00\x01" * 40000
    finally:
        client.close()


def test_a_websocket_the_upstream_refuses_gets_its_answer(proxied: Upstreams) -> None:
    url = proxied.server.url.replace("http://", "ws://") + "/keep/ws-refuse"
    with pytest.raises(InvalidStatus) as refused:
        ws_connect(url, open_timeout=30)
    assert refused.value.response.status_code == 403


def test_a_malformed_websocket_handshake_is_refused_before_the_upstream(proxied: Upstreams) -> None:
    with socket.create_connection(("127.0.0.1", proxied.server.port), timeout=30) as sock:
        sock.sendall(b"GET /keep/ws HTTP/1.1\r\nhost: localhost\r\nupgrade: websocket\r\nconnection: Upgrade\r\n"
                     b"sec-websocket-version: 12\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 426 "), answer
    # This server's own words (the upstream's answer would say something else, through Via).
    assert b"sec-websocket-version: 13" in answer.lower() and b"WebSocket version 13 is required" in answer
    assert b"via:" not in answer.lower()


def _count(server: RunningServer, needle: str) -> int:
    return server.log().count(needle)


def test_an_upstream_killed_under_load_costs_only_its_requests_in_flight(proxied: Upstreams) -> None:
    server = proxied.server
    total = 4000
    # At most 800 requests a second (--rps per client): b dies early in the load however fast the machine is, and
    # a stall of this test of a few seconds still finds most of the load ahead.
    load = subprocess.Popen(["h2load", "--h1", "-n", str(total), "-c", "8", "--rps", "100", server.url + "/api/health"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        start = _count(server, '"GET /api/health HTTP/1.1"')
        deadline = time.monotonic() + 60
        # Kill b once a quarter of the load has been answered.
        while _count(server, '"GET /api/health HTTP/1.1"') - start < total // 4:
            assert load.poll() is None and time.monotonic() < deadline, "the load ended before b was killed"
            time.sleep(0.02)
        proxied.procs["b"].send_signal(signal.SIGKILL)
        proxied.procs["b"].wait(10)
        answered_before_kill = _count(server, '"GET /api/health HTTP/1.1"') - start
        out, _ = load.communicate(timeout=180)
    finally:
        if load.poll() is None:
            load.kill()
            load.wait()
    found = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed", out)
    assert found, out[-1200:]
    print(found.group(0))
    started, succeeded = int(found.group(2)), int(found.group(4))
    assert answered_before_kill < total * 3 // 4, "b was killed after most of the load"
    # At most one request per client connection was in flight to b when it died (h2load -c 8). One whose head had
    # come through is broken off with its connection, and h2load sends nothing more on a closed connection: those
    # requests never started, so the ones that failed are the started ones that did not succeed.
    assert started - succeeded <= 8, out[-1200:]
    # Health checks see b gone; restarted, it is brought back and gets requests again.
    deadline = time.monotonic() + 30
    while "upstream http://" + proxied.binds["b"] + " is unhealthy" not in server.log():
        assert time.monotonic() < deadline, [line for line in server.log().splitlines() if "proxy" in line][-20:]
        time.sleep(0.05)
    assert set(_api_names(server, 6)) == {"a"}
    proxied.procs["b"] = _start_upstream("b", proxied.binds["b"])
    deadline = time.monotonic() + 30
    while "b" not in _api_names(server, 4):
        assert time.monotonic() < deadline, "b was not brought back by the health checks"
        time.sleep(0.1)
    assert set(_api_names(server, 6)) == {"a", "b"}


def test_http3_client_to_http1_upstream(tmp_path: Path) -> None:
    from dynlan.server._tls import development_certificate
    from tests._h3client import fetch

    cert, key = development_certificate(tmp_path / "tls")
    root = tmp_path / "site"
    root.mkdir()
    (root / "index.html").write_text("x")
    with upstream("a") as (_, a):
        (root / "dynlan.toml").write_text(f'[[route]]\npath = "/api/*"\nproxy = {{ upstreams = ["http://{a}"], '
                                          f'strip_prefix = true }}\n')
        with run_dynlan(root, "--tls-cert", cert, "--tls-key", key, "--http3", "--no-access-log", config=LOOPBACK) as server:
            got, posted, big = fetch(server.port, [("GET", "/api/x?q=1", b""), ("POST", "/api/up", b"p" * 200_000),
                                                   ("GET", "/api/big?n=300000", b"")], cafile=cert)
    info = json.loads(got.body)
    assert got.status == 200 and (info["path"], info["query"]) == ("/x", "q=1")
    assert fields(info, "via") == ["3 dynlan"] and fields(info, "x-forwarded-proto") == ["https"]
    assert json.loads(posted.body)["body_bytes"] == 200_000
    assert big.status == 200 and len(big.body) == 300_000


def test_health_checks_run_from_the_start(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("x")
    dead = f"127.0.0.1:{free_port()}"
    (tmp_path / "dynlan.toml").write_text(
        f'[[route]]\npath = "/api/*"\n'
        f'proxy = {{ upstreams = ["http://{dead}"], health = {{ path = "/health", interval = 0.2, fails = 1 }} }}\n')
    with run_dynlan(tmp_path, "--no-access-log", config=LOOPBACK) as server:
        deadline = time.monotonic() + 30
        # No request reaches the rule: the checks of a group start with the server.
        while f"upstream http://{dead} is unhealthy" not in server.log():
            assert time.monotonic() < deadline, server.log()[-2000:]
            time.sleep(0.05)


# -- trailers ---------------------------------------------------------------------------------------------------


class TrailerUpstream:
    """An HTTP/1.1 upstream on h11 (blocking sockets, a thread per connection): every response is chunked, its body
    the JSON of what came (method, body size, the request's trailers, whether it came chunked) and its trailers a
    checksum beside fields a trailer section must not carry."""

    TRAILERS = [("x-checksum", "abc123"), ("grpc-status", "0"), ("host", "evil.test"), ("set-cookie", "s=1"),
                ("content-type", "text/evil"), ("authorization", "Basic eA==")]

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.bind = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self.threads = [threading.Thread(target=self._accept, daemon=True)]
        self.threads[0].start()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        for thread in self.threads:
            thread.join(30)

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self.threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(30)
        h = h11.Connection(h11.SERVER)
        with conn:
            while True:
                method, size, chunked, trailers, te = "", 0, False, [], ""
                while True:
                    event = h.next_event()
                    if event is h11.NEED_DATA:
                        try:
                            h.receive_data(conn.recv(65536))
                        except OSError:
                            return
                        continue
                    if isinstance(event, h11.ConnectionClosed):
                        return
                    if isinstance(event, h11.Request):
                        method = event.method.decode()
                        chunked = any(k == b"transfer-encoding" for k, _ in event.headers)
                        te = ", ".join(v.decode() for k, v in event.headers if k in (b"te", b"connection"))
                    elif isinstance(event, h11.Data):
                        size += len(event.data)
                    elif isinstance(event, h11.EndOfMessage):
                        trailers = [[k.decode(), v.decode()] for k, v in event.headers]
                        break
                body = json.dumps({"method": method, "body_bytes": size, "chunked": chunked, "trailers": trailers,
                                   "te": te})
                out = h.send(h11.Response(status_code=200, headers=[("content-type", "application/json"),
                                                                    ("transfer-encoding", "chunked"),
                                                                    ("trailer", "x-checksum, grpc-status")]))
                out += h.send(h11.Data(data=body.encode())) + h.send(h11.EndOfMessage(headers=self.TRAILERS))
                try:
                    conn.sendall(out)
                except OSError:
                    return
                if h.our_state is not h11.DONE or h.their_state is not h11.DONE:
                    return
                h.start_next_cycle()


PASSED_ON = {"x-checksum": "abc123", "grpc-status": "0"}


@pytest.fixture(scope="module")
def trailers_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, str]]:
    from dynlan.server._tls import development_certificate

    base = tmp_path_factory.mktemp("trailers")
    cert, key = development_certificate(base / "tls")
    root = base / "site"
    root.mkdir()
    (root / "index.html").write_text("x")
    up = TrailerUpstream()
    try:
        (root / "dynlan.toml").write_text(f'[[route]]\npath = "/t/*"\nproxy = {{ upstreams = ["http://{up.bind}"], '
                                          f'strip_prefix = true }}\nheaders = {{ set = {{ "x-rule" = "t" }} }}\n')
        with run_dynlan(root, "--tls-cert", cert, "--tls-key", key, "--http3", "--no-access-log", config=LOOPBACK) as server:
            yield server, cert
    finally:
        up.close()


def tls_socket(port: int, cafile: str, alpn: str) -> ssl.SSLSocket:
    context = ssl.create_default_context(cafile=cafile)
    context.set_alpn_protocols([alpn])
    sock = context.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=30), server_hostname="localhost")
    assert sock.selected_alpn_protocol() == alpn
    return sock


def h1_exchange(sock: ssl.SSLSocket, request: bytes) -> tuple[h11.Response, bytes, dict[str, str]]:
    """Send a raw request, read its response with h11: (head, body, trailers)."""
    sock.sendall(request)
    h = h11.Connection(h11.CLIENT)
    h.send(h11.Request(method="GET", target="/", headers=[("host", "x")]))  # puts h11 in the state to read a response
    h.send(h11.EndOfMessage())
    head: h11.Response | None = None
    body = b""
    while True:
        event = h.next_event()
        if event is h11.NEED_DATA:
            h.receive_data(sock.recv(65536))
        elif isinstance(event, h11.Response):
            head = event
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            assert head is not None
            return head, body, {k.decode(): v.decode() for k, v in event.headers}


def test_trailers_pass_both_ways_over_http1_chunked(trailers_site: tuple[RunningServer, str]) -> None:
    server, cert = trailers_site
    with tls_socket(server.port, cert, "http/1.1") as sock:
        head, body, trailers = h1_exchange(sock, b"POST /t/up HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked"
                                                 b"\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\nX-Req-Sum: 42\r\n"
                                                 b"Authorization: Basic eA==\r\nHost: evil.test\r\n\r\n")
        assert head.status_code == 200 and (b"x-rule", b"t") in head.headers
        assert trailers == PASSED_ON  # the upstream's, less those a trailer section must not carry
        seen_up = json.loads(body)
        assert seen_up == {"method": "POST", "body_bytes": 11, "chunked": True, "trailers": [["x-req-sum", "42"]],
                           "te": ""}
        # The same connection carries the next request: a body with a length has no trailers to pass on.
        head, body, trailers = h1_exchange(sock, b"POST /t/up HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\n"
                                                 b"\r\nabc")
        assert json.loads(body) == {"method": "POST", "body_bytes": 3, "chunked": False, "trailers": [], "te": ""}
        assert trailers == PASSED_ON
        # A client that takes trailers says so with TE: trailers, and the upstream hears it (RFC 9110 §10.1.4).
        head, body, trailers = h1_exchange(sock, b"POST /t/up HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\n"
                                                 b"TE: trailers\r\nConnection: TE\r\n\r\nabc")
        assert json.loads(body) == {"method": "POST", "body_bytes": 3, "chunked": False, "trailers": [],
                                    "te": "trailers, te"}
        assert trailers == PASSED_ON
    # An HTTP/1.0 client reads a body that ends with the connection: no trailer section, and the body whole.
    with tls_socket(server.port, cert, "http/1.1") as sock:
        sock.sendall(b"GET /t/x HTTP/1.0\r\nHost: localhost\r\n\r\n")
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    head_raw, _, rest = raw.partition(b"\r\n\r\n")
    assert b"transfer-encoding" not in head_raw.lower()
    assert json.loads(rest)["method"] == "GET"


def test_trailers_pass_both_ways_over_http2(trailers_site: tuple[RunningServer, str]) -> None:
    server, cert = trailers_site
    with tls_socket(server.port, cert, "h2") as sock:
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        conn.initiate_connection()
        conn.send_headers(1, [(":method", "POST"), (":path", "/t/up"), (":scheme", "https"),
                              (":authority", "localhost"), ("te", "trailers")])
        conn.send_data(1, b"z" * 1000)
        conn.send_headers(1, [("x-req-sum", "42"), ("cookie", "a=b")], end_stream=True)
        sock.sendall(conn.data_to_send())
        status, body, trailers = "", b"", {}
        ended = False
        while not ended:
            data = sock.recv(65536)
            assert data, "the server closed the connection"
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived):
                    status = dict(event.headers)[":status"]
                elif isinstance(event, h2.events.DataReceived):
                    body += event.data
                    conn.acknowledge_received_data(event.flow_controlled_length, 1)
                elif isinstance(event, h2.events.TrailersReceived):
                    trailers = dict(event.headers)
                elif isinstance(event, h2.events.StreamEnded):
                    ended = True
            sock.sendall(conn.data_to_send())
    assert status == "200" and trailers == PASSED_ON
    # The client's TE: trailers (RFC 9113 §8.2.2) reaches the upstream, with TE as a connection option.
    assert json.loads(body) == {"method": "POST", "body_bytes": 1000, "chunked": True,
                                "trailers": [["x-req-sum", "42"]], "te": "trailers, te"}


def test_trailers_pass_both_ways_over_http3(trailers_site: tuple[RunningServer, str]) -> None:
    from tests._h3client import H3Client, client_configuration, connect

    server, cert = trailers_site

    async def run() -> tuple[H3Response, H3Response]:
        async with connect("127.0.0.1", server.port, configuration=client_configuration(cert),
                           create_protocol=H3Client) as client:
            assert isinstance(client, H3Client)
            authority = f"localhost:{server.port}"
            return (await client.request("GET", authority, "/t/x"),
                    await client.request("POST", authority, "/t/up", b"q" * 5000, trailers={"x-req-sum": "7",
                                                                                         "host": "evil.test"}))

    got, posted = asyncio.run(asyncio.wait_for(run(), 60))
    assert got.status == 200 and got.trailers == PASSED_ON
    assert "x-checksum" not in got.headers and json.loads(got.body)["method"] == "GET"
    assert posted.trailers == PASSED_ON
    assert json.loads(posted.body) == {"method": "POST", "body_bytes": 5000, "chunked": True,
                                       "trailers": [["x-req-sum", "7"]], "te": ""}
