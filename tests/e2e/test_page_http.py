"""HTTP calls from pages (`http.request`), in every language, over real HTTP: a `dynlan serve` whose pages call a
Hypercorn service the suite starts (`tests/e2e/_http_upstream.py`), asked with httpx.

Sites of the server (each folder is the site of that host name):
    a.test   allows the service (by address and by name) and keeps response bodies to 100000 bytes; its /up/* route
             proxies to the service
    s.test   the same list, with its Python pages in the process sandbox
    b.test   the attacker: it names only a public host, and tries the service anyway
    c.test   names the service by host name only: `localhost` resolves to the machine itself, which a name entry
             never reaches (DNS rebinding)
The server's own list bounds every site's and grants the loopback address.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from dynlan.server._tls import development_certificate
from tests._server import RunningServer, free_port, run_dynlan, wait_port

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
WALL = 2.0
CAP = 100_000

LUA = """
local q = request.query
local ok, r = pcall(http.request, {
  method = q.method, url = q.url, headers = {["x-token"] = q.token or "none"}, body = request.body(),
  redirects = tonumber(q.redirects or "0"), timeout = tonumber(q.timeout),
})
if not ok then print("error: " .. tostring(r)) return end
print(r.status)
print(r.headers["x-upstream"] or "-")
response.write(r.body)
"""

WREN = """
var q = Request.query
var opts = {
  "method": q["method"], "url": q["url"], "headers": {"x-token": q["token"] || "none"}, "body": Request.body,
  "redirects": q["redirects"] == null ? 0 : Num.fromString(q["redirects"]),
  "timeout": q["timeout"] == null ? null : Num.fromString(q["timeout"])
}
var r = Http.tryRequest(opts)
if (r["error"] != null) {
  System.print("error: %(r["error"])")
} else {
  System.print(r["status"])
  System.print(r["headers"]["x-upstream"] || "-")
  Response.write(r["body"])
}
"""

PY_ASYNC = """
async def handle(request, response):
    q = request.query
    body = await request.body()
    try:
        r = await http.request(q.get("method", "GET"), q["url"], headers={"x-token": q.get("token", "none")},
                               body=body or None, redirects=int(q.get("redirects", "0")),
                               timeout=float(q["timeout"]) if "timeout" in q else None)
    except Exception as exc:
        response.write(f"error: {exc}")
        return
    response.write(f"{r.status}\\n{r.headers.get('x-upstream', '-')}\\n")
    response.write(r.body)
"""

PY_SYNC = """
def handle(request, response):
    q = request.query
    try:
        r = http.request(q.get("method", "GET"), q["url"], headers={"x-token": q.get("token", "none")},
                         body=request.body() or None, redirects=int(q.get("redirects", "0")),
                         timeout=float(q["timeout"]) if "timeout" in q else None)
    except Exception as exc:
        response.write(f"error: {exc}")
        return
    response.write(f"{r.status}\\n{r.headers.get('x-upstream', '-')}\\n")
    response.write(r.body)
"""

PHP = """<?php
$q = $_GET;
try {
    $r = dynlan_http_request([
        'method' => $q['method'] ?? 'GET', 'url' => $q['url'], 'headers' => ['x-token' => $q['token'] ?? 'none'],
        'body' => file_get_contents('php://input'), 'redirects' => (int)($q['redirects'] ?? 0),
        'timeout' => isset($q['timeout']) ? (float)$q['timeout'] : null,
    ]);
} catch (Throwable $e) {
    echo 'error: ', $e->getMessage();
    return;
}
echo $r['status'], "\\n", $r['headers']['x-upstream'] ?? '-', "\\n", $r['body'];
"""

PAGES = {"lua.lua": LUA, "wren.wren": WREN, "py.py": PY_ASYNC, "py_sync.py": PY_SYNC, "php.php": PHP,
         # Not caught: the refusal is the page's error (500, the message in the log).
         "raw.lua": "local r = http.request{url = request.query.url}\nprint(r.status)\n",
         "cookie.lua": "print(http.request{url = request.query.url}.headers['set-cookie'])\n",
         # Computes past its slice first: it goes on on a Lua VM of its own thread, whose calls the host loop makes.
         "heavy.lua": "local x = 0\nfor i = 1, 20000000 do x = x + i end\n" + LUA}

CALLERS = ["lua.lua", "wren.wren", "py.py", "py_sync.py",
           "php.php"]
BINARY_CALLERS = [c for c in CALLERS if c != "wren.wren"]  # Wren strings are text
SANDBOXED = ["py.py", "py_sync.py"]


@contextlib.contextmanager
def service() -> Iterator[int]:
    """The Hypercorn service on a free loopback port."""
    port = free_port()
    log = open(Path(tempfile.gettempdir()) / f"dynlan-http-upstream-{os.getpid()}.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "hypercorn", "-k", "trio", "--workers", "0", "--bind", f"127.0.0.1:{port}",
         "tests.e2e._http_upstream:app"],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    log.close()
    try:
        wait_port(port, proc)
        yield port
    finally:
        proc.kill()
        proc.wait(10)


class Setup:
    def __init__(self, server: RunningServer, port: int, closed: int, tls: RunningServer) -> None:
        self.server = server
        self.tls = tls
        """Another dynlan, serving HTTPS with a certificate no authority signed."""
        self.port = port
        self.closed = closed
        """A loopback port nothing listens on, and no list names."""
        self.up = f"http://127.0.0.1:{port}"

    def call(self, site: str, page: str, url: str, *, body: bytes | None = None, **query: str) -> httpx.Response:
        return httpx.request("POST" if body is not None else "GET", f"{self.server.url}/{page}",
                             params={"url": url, **query}, content=body, headers={"host": site}, timeout=60)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    sites = tmp_path_factory.mktemp("page-http")
    tls_site = tmp_path_factory.mktemp("page-http-tls")
    (tls_site / "hello.txt").write_text("hello over tls\n")
    cert, key = development_certificate(tmp_path_factory.mktemp("page-http-cert"))
    with service() as port, run_dynlan(tls_site, "--tls-cert", cert, "--tls-key", key) as tls:
        allowed = f'["127.0.0.1:{port}", "localhost:{port}", "127.0.0.1:{tls.port}"]'
        tables = {
            # The service behind a proxy route too: the route and the pages' calls share its connections.
            "a.test": f"[outbound]\nallow = {allowed}\nmax_response_size = {CAP}\n\n[[route]]\npath = \"/up/*\"\n"
                      f"proxy = {{ upstreams = [\"http://127.0.0.1:{port}\"], strip_prefix = true }}\n",
            "s.test": f'[outbound]\nallow = {allowed}\nmax_response_size = {CAP}\n\n[python]\nsandbox = "process"\n',
            "b.test": '[outbound]\nallow = ["api.example.com"]\n',
            "c.test": f'[outbound]\nallow = ["localhost:{port}"]\n',
        }
        for site, table in tables.items():
            (sites / site).mkdir()
            (sites / site / "dynlan.toml").write_text(table)
            for name, source in PAGES.items():
                (sites / site / name).write_text(source)
        config = (f"[limits]\nwall_time = {WALL}\n\n[outbound]\nallow = {allowed[:-1]}, \"api.example.com\"]\n\n"
                  f"[python]\nsandbox = \"none\"\n")
        with run_dynlan(sites, config=config) as server:
            yield Setup(server, port, free_port(), tls)


def lines(r: httpx.Response) -> list[str]:
    assert r.status_code == 200, r.text
    parts = r.text.split("\n", 2)
    assert len(parts) == 3, r.text
    return parts


# -- what a page asks, the service receives; what it answers, the page gets ----------------------------------


@pytest.mark.parametrize("page", CALLERS)
def test_get_with_query_and_headers(setup: Setup, page: str) -> None:
    import json

    status, via, body = lines(setup.call("a.test", page, f"{setup.up}/echo?x=1&y=two%20words", token="t-42"))
    assert (status, via) == ("200", "echo")
    seen = json.loads(body)
    assert seen["method"] == "GET" and seen["path"] == "/echo" and seen["query"] == "x=1&y=two%20words"
    assert seen["headers"]["x-token"] == "t-42"
    assert seen["headers"]["host"] == f"127.0.0.1:{setup.port}"
    assert seen["headers"]["user-agent"] == "dynlan"
    assert seen["body"] == ""


@pytest.mark.parametrize("page", CALLERS)
def test_post_with_a_body(setup: Setup, page: str) -> None:
    import json

    sent = "name=é&n=" + "z" * 5000
    status, _, body = lines(setup.call("a.test", page, f"{setup.up}/echo", body=sent.encode(), method="POST"))
    seen = json.loads(body)
    assert status == "200" and seen["method"] == "POST" and seen["body"] == sent
    assert seen["headers"]["content-length"] == str(len(sent.encode()))


@pytest.mark.parametrize("page", BINARY_CALLERS)
def test_a_binary_response_reaches_the_page_as_it_is(setup: Setup, page: str) -> None:
    r = setup.call("a.test", page, f"{setup.up}/bytes")
    assert r.status_code == 200
    assert r.content == b"200\n-\n" + bytes(range(256))


@pytest.mark.parametrize("page", SANDBOXED)
def test_python_in_the_process_sandbox_calls_too(setup: Setup, page: str) -> None:
    import json

    status, _, body = lines(setup.call("s.test", page, f"{setup.up}/echo?from=sandbox", body=b"\x00\xff raw",
                                       method="PUT"))
    seen = json.loads(body)
    assert status == "200" and seen["method"] == "PUT" and seen["query"] == "from=sandbox"
    assert seen["body"] == "\x00\ufffd raw"  # the service decodes it as UTF-8: the bytes arrived as sent
    assert setup.call("s.test", page, f"{setup.up}/bytes").content == b"200\n-\n" + bytes(range(256))


def test_a_heavy_lua_page_calls_from_a_thread_vm(setup: Setup) -> None:
    import json

    status, _, body = lines(setup.call("a.test", "heavy.lua", f"{setup.up}/echo", body=b"\x00heavy", method="POST"))
    assert status == "200" and json.loads(body)["body"] == "\x00heavy"


def test_a_name_entry_with_an_address_entry_reaches_the_service(setup: Setup) -> None:
    status, via, _ = lines(setup.call("a.test", "lua.lua", f"http://localhost:{setup.port}/echo"))
    assert (status, via) == ("200", "echo")


# -- what a page may not reach ----------------------------------------------------------------------------------


@pytest.mark.parametrize("page", CALLERS)
def test_a_host_not_in_the_list_is_refused(setup: Setup, page: str) -> None:
    r = setup.call("a.test", page, f"http://127.0.0.1:{setup.closed}/echo")
    assert r.status_code == 200
    assert r.text.startswith("error: ") and f"127.0.0.1:{setup.closed} is not in this site's [outbound] allow list" \
        in r.text, r.text


def test_an_uncaught_refusal_is_the_page_s_error(setup: Setup) -> None:
    r = setup.call("a.test", "raw.lua", f"http://127.0.0.1:{setup.closed}/echo")
    assert r.status_code == 500
    deadline = time.monotonic() + 30
    while f"127.0.0.1:{setup.closed} is not in this site's [outbound] allow list" not in setup.server.log():
        assert time.monotonic() < deadline, setup.server.log()[-3000:]
        time.sleep(0.05)


@pytest.mark.parametrize("page", CALLERS)
def test_an_attacker_site_cannot_use_another_site_s_allowance(setup: Setup, page: str) -> None:
    for url in (f"{setup.up}/echo", f"http://localhost:{setup.port}/echo", f"http://[::ffff:127.0.0.1]:{setup.port}/",
                f"http://127.0.0.1:{setup.server.port}/lua.lua", "http://169.254.169.254/latest/meta-data/"):
        r = setup.call("b.test", page, url)
        assert r.status_code == 200 and r.text.startswith("error: ") and "allow list" in r.text, (url, r.text)
    assert lines(setup.call("a.test", page, f"{setup.up}/echo"))[0] == "200"  # a.test's own list still holds


@pytest.mark.parametrize("page", ["lua.lua", "py.py"])
def test_a_name_that_resolves_to_the_machine_reaches_nothing_without_an_address_entry(setup: Setup, page: str) -> None:
    r = setup.call("c.test", page, f"http://localhost:{setup.port}/echo")
    assert r.status_code == 200 and r.text.startswith("error: ") and "localhost resolves to" in r.text, r.text
    assert "non-public address that this site's [outbound] allow list does not name" in r.text, r.text


@pytest.mark.parametrize("page", CALLERS)
def test_redirects_are_followed_when_asked_and_each_one_checked(setup: Setup, page: str) -> None:
    inside = f"{setup.up}/redirect?to=/echo%3Fafter%3Dredirect"
    assert lines(setup.call("a.test", page, inside))[0] == "302"
    status, via, _ = lines(setup.call("a.test", page, inside, redirects="2"))
    assert (status, via) == ("200", "echo")
    outside = f"{setup.up}/redirect?to=http://127.0.0.1:{setup.closed}/echo"
    r = setup.call("a.test", page, outside, redirects="2")
    assert r.text.startswith("error: ") and f"127.0.0.1:{setup.closed} is not in" in r.text, r.text


# -- budgets ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("page", CALLERS)
def test_a_body_over_the_cap_fails_cleanly(setup: Setup, page: str) -> None:
    status, _, body = lines(setup.call("a.test", page, f"{setup.up}/big?n={CAP}"))
    assert status == "200" and body == "x" * CAP
    for big in (f"big?n={CAP * 4}", f"big-chunked?n={CAP * 4}"):
        r = setup.call("a.test", page, f"{setup.up}/{big}")
        assert r.status_code == 200 and r.text.startswith("error: ")
        assert f"larger than the {CAP} bytes a page may receive" in r.text, r.text
    # The connection that carried it is not reused half read: the next call is whole.
    assert lines(setup.call("a.test", page, f"{setup.up}/big?n=10"))[2] == "x" * 10


@pytest.mark.parametrize("page", CALLERS)
def test_a_call_s_own_timeout_is_an_error_the_page_catches(setup: Setup, page: str) -> None:
    started = time.monotonic()
    r = setup.call("a.test", page, f"{setup.up}/slow?s=30", timeout="0.3")
    assert r.status_code == 200 and r.text.startswith("error: ") and "within 0.3 s" in r.text, r.text
    assert time.monotonic() - started < WALL * 5


@pytest.mark.parametrize("page", CALLERS)
def test_a_slow_service_is_cut_at_the_page_s_wall_time(setup: Setup, page: str) -> None:
    started = time.monotonic()
    r = setup.call("a.test", page, f"{setup.up}/slow?s=30")
    elapsed = time.monotonic() - started
    assert r.status_code == 503, r.text
    # Cut by the page's budget, long before the service would have answered.
    assert WALL * 0.9 <= elapsed < 15, elapsed


# -- connections ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("page", ["lua.lua", "wren.wren", "py.py"])
def test_calls_reuse_a_kept_alive_connection(setup: Setup, page: str) -> None:
    import json

    clients = {tuple(json.loads(lines(setup.call("a.test", page, f"{setup.up}/echo"))[2])["client"]) for _ in range(4)}
    assert len(clients) == 1, clients  # one connection (the worker's pool) carried the four calls


def test_a_page_call_and_a_proxied_request_share_one_upstream_connection(setup: Setup) -> None:
    import json

    clients = set()
    with httpx.Client(base_url=setup.server.url, headers={"host": "a.test"}, timeout=60) as c:
        for page in ("lua.lua", "py.py", "wren.wren"):
            proxied = c.get("/up/echo")
            assert proxied.status_code == 200 and proxied.headers["via"] == "1.1 dynlan", proxied.text
            clients.add(tuple(proxied.json()["client"]))
            clients.add(tuple(json.loads(lines(setup.call("a.test", page, f"{setup.up}/echo"))[2])["client"]))
    # The service saw one connection: the worker's pool for its origin carried the route's and the pages' requests.
    assert len(clients) == 1, clients


def test_set_cookie_fields_are_kept_apart(setup: Setup) -> None:
    r = setup.call("a.test", "cookie.lua", f"{setup.up}/cookie")
    assert r.status_code == 200 and r.text == "a=1; Path=/\nb=2\n", r.text


@pytest.mark.parametrize("page", CALLERS)
def test_https_certificates_are_verified(setup: Setup, page: str) -> None:
    # The other server's certificate is its own (no authority signed it): the call fails at the handshake and
    # sends nothing; plain HTTP to the same port is still only what the list allows.
    r = setup.call("a.test", page, f"https://127.0.0.1:{setup.tls.port}/hello.txt")
    assert r.status_code == 200 and r.text.startswith("error: ") and "TLS with 127.0.0.1" in r.text, r.text
    assert "certificate verify failed" in r.text, r.text
    assert "hello over tls" not in r.text
