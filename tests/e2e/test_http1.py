"""HTTP/1.1 end to end: a real `dynlan serve` on loopback, with curl, httpx and raw sockets."""

from __future__ import annotations

import re
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests._server import RunningServer, run_dynlan

pytestmark = pytest.mark.e2e


def raw(server: RunningServer, data: bytes, *, read_timeout: float = 5.0) -> bytes:
    """Send bytes, read until the server closes (or the timeout)."""
    with socket.create_connection(("127.0.0.1", server.port)) as s:
        s.sendall(data)
        s.settimeout(read_timeout)
        out = b""
        try:
            while chunk := s.recv(65536):
                out += chunk
        except TimeoutError:
            pass
        return out


def status_of(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


def curl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["curl", "-s", "--max-time", "10", *args], capture_output=True, text=True, check=False)


def test_get_index_and_headers(server: RunningServer) -> None:
    r = httpx.get(server.url + "/")
    assert r.status_code == 200
    assert r.text.startswith("<!doctype html>")
    assert r.headers["content-type"].startswith("text/html")
    assert r.headers["server"].startswith("dynlan/")
    assert "date" in r.headers and "etag" in r.headers and "last-modified" in r.headers


def test_keep_alive_reuses_the_connection(server: RunningServer) -> None:
    p = curl("-v", server.url + "/robots.txt", server.url + "/about")
    assert p.returncode == 0
    assert "Re-using existing connection" in p.stderr or "Reusing existing" in p.stderr


def test_pipelining(server: RunningServer) -> None:
    out = raw(server, b"GET /robots.txt HTTP/1.1\r\nHost: x\r\n\r\n" * 3
              + b"GET /about HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert out.count(b"HTTP/1.1 200 OK") == 4
    assert out.endswith(b"<h1>about</h1>\n")


def test_head_has_headers_and_no_body(server: RunningServer) -> None:
    out = raw(server, b"HEAD /style.css HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    head, _, body = out.partition(b"\r\n\r\n")
    assert status_of(out) == 200 and b"content-length: 1000" in head.lower() and body == b""


def test_options_star(server: RunningServer) -> None:
    out = raw(server, b"OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert status_of(out) == 204 and b"allow:" in out.lower()


def test_absolute_form_target(server: RunningServer) -> None:
    out = raw(server, f"GET http://127.0.0.1:{server.port}/about HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    assert status_of(out) == 200 and out.endswith(b"<h1>about</h1>\n")


def test_clean_urls_and_folder_redirect(server: RunningServer) -> None:
    assert httpx.get(server.url + "/about").text == "<h1>about</h1>\n"
    r = httpx.get(server.url + "/docs")
    assert r.status_code == 301 and r.headers["location"] == "/docs/"
    assert httpx.get(server.url + "/docs/").text == "<h1>docs</h1>\n"


def test_custom_404(server: RunningServer) -> None:
    r = httpx.get(server.url + "/nope")
    assert r.status_code == 404 and "custom not found" in r.text


def test_conditional_requests(server: RunningServer) -> None:
    r = httpx.get(server.url + "/style.css")
    etag, modified = r.headers["etag"], r.headers["last-modified"]
    assert httpx.get(server.url + "/style.css", headers={"If-None-Match": etag}).status_code == 304
    assert httpx.get(server.url + "/style.css", headers={"If-Modified-Since": modified}).status_code == 304
    assert httpx.get(server.url + "/style.css", headers={"If-Match": '"nope"'}).status_code == 412
    assert httpx.get(server.url + "/style.css", headers={"If-Unmodified-Since": "Mon, 01 Jan 1990 00:00:00 GMT"}).status_code == 412


def test_ranges(server: RunningServer) -> None:
    data = bytes(range(256)) * 40
    r = httpx.get(server.url + "/data.bin", headers={"Range": "bytes=10-19"})
    assert r.status_code == 206 and r.content == data[10:20]
    assert r.headers["content-range"] == "bytes 10-19/10240"
    r = httpx.get(server.url + "/data.bin", headers={"Range": "bytes=-5"})
    assert r.content == data[-5:]
    r = httpx.get(server.url + "/data.bin", headers={"Range": "bytes=0-1,100-101"})
    assert r.status_code == 206 and r.headers["content-type"].startswith("multipart/byteranges")
    assert data[0:2] in r.content and data[100:102] in r.content
    r = httpx.get(server.url + "/data.bin", headers={"Range": "bytes=99999-"})
    assert r.status_code == 416 and r.headers["content-range"] == "bytes */10240"
    etag = httpx.get(server.url + "/data.bin").headers["etag"]
    r = httpx.get(server.url + "/data.bin", headers={"Range": "bytes=0-0", "If-Range": etag})
    assert r.status_code == 206
    r = httpx.get(server.url + "/data.bin", headers={"Range": "bytes=0-0", "If-Range": '"stale"'})
    assert r.status_code == 200 and len(r.content) == 10240


def test_curl_range(server: RunningServer) -> None:
    p = curl("-r", "0-3", server.url + "/robots.txt")
    assert p.stdout == "User"


@pytest.mark.parametrize(
    "path",
    [
        "/../../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/docs/%2e%2e%2f%2e%2e%2fetc/passwd",
        "/..%5c..%5cetc/passwd",
        "/%00/etc/passwd",
        "/docs/..\\..\\etc\\passwd",
        "/escape.txt",
        "/.secret",
        "/_lib/util.lua",
        "/dynlan.toml",
        "/%252e%252e/etc/passwd",
    ],
)
def test_path_traversal_never_leaves_the_root(server: RunningServer, path: str) -> None:
    out = raw(server, f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    assert status_of(out) in (400, 404)
    assert b"root:" not in out and b"outside the root" not in out and b"do not serve" not in out
    assert b"listing" not in out


def test_curl_path_as_is(server: RunningServer) -> None:
    p = curl("--path-as-is", "-o", "/dev/null", "-w", "%{http_code}", server.url + "/../../../../etc/passwd")
    assert p.stdout in ("400", "404")


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"NOT A REQUEST\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\n\r\n", 400),
        (b"BREW / HTTP/1.1\r\nHost: x\r\n\r\n", 501),
        (b"POST /style.css HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 405),
        (b"GET /" + b"a" * 10000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        (b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-Pad: " + b"p" * 40000 + b"\r\n\r\n", 431),
        (b"POST /hello HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + b"b" * 100000, 413),
    ],
)
def test_bad_input_gets_a_precise_status(server: RunningServer, request_bytes: bytes, status: int) -> None:
    out = raw(server, request_bytes if b"Connection" in request_bytes else request_bytes)
    assert status_of(out) == status
    # ... and the server keeps serving everyone else.
    assert httpx.get(server.url + "/robots.txt").status_code == 200


def status_lines(out: bytes) -> list[int]:
    """The statuses of the responses in `out` (a status line starts the data or a line)."""
    return [int(m) for m in re.findall(rb"(?:^|\n)HTTP/1\.1 (\d{3}) ", out)]


H11_CONFIG = """
[http]
h1_parser = "h11"
header_timeout = 2.0
keepalive_timeout = 5.0
"""


@pytest.fixture(scope="module")
def h11_server(site: Path) -> Iterator[RunningServer]:
    with run_dynlan(site, config=H11_CONFIG) as s:
        yield s


@pytest.mark.parametrize("parser", ["llhttp", "h11"])
@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"POST /hello HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity, chunked\r\n\r\n0\r\n\r\n", 400),
        (b"GET /robots.txt\r\n\r\n", 400),
        (b"GET /robots.txt HTTP/2.0\r\nHost: x\r\n\r\n", 505),
        (b"GET  /robots.txt HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        (b"GET /robots.txt HTTP/1.1 \r\nHost: x\r\n\r\n", 400),
    ],
)
def test_request_leniencies_are_refused(request: pytest.FixtureRequest, parser: str, request_bytes: bytes,
                                        status: int) -> None:
    srv: RunningServer = request.getfixturevalue("server" if parser == "llhttp" else "h11_server")
    # A request a lenient parser would take, then one that must never be served after it.
    out = raw(srv, request_bytes + b"GET /about HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status_lines(out) == [status] and b"<h1>about</h1>" not in out
    assert b"\r\nconnection: close\r\n" in out.lower()
    # ... and the server keeps serving the next connection.
    assert httpx.get(srv.url + "/robots.txt").status_code == 200


@pytest.mark.parametrize("parser", ["llhttp", "h11"])
def test_body_of_an_ignored_upgrade_is_not_a_second_request(request: pytest.FixtureRequest, parser: str) -> None:
    srv: RunningServer = request.getfixturevalue("server" if parser == "llhttp" else "h11_server")
    smuggled = b"GET /about HTTP/1.1\r\nHost: x\r\n\r\n"
    # Then a last request that closes the connection: an answer to the smuggled one would come before its answer,
    # so reading until the close sees it without a guess at how long the server takes.
    last = b"GET /robots.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    out = raw(srv, b"POST /robots.txt HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
              b"Content-Length: %d\r\n\r\n" % len(smuggled) + smuggled + last, read_timeout=30)
    assert status_lines(out) in ([405, 200], [405]) and b"<h1>about</h1>" not in out, out


def test_slowloris_gets_408(server: RunningServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port)) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        out = b""
        s.settimeout(0.5)
        while time.monotonic() - started < 6:
            try:
                s.sendall(b"X")
                chunk = s.recv(4096)
                if not chunk:
                    break
                out += chunk
            except TimeoutError:
                continue
            except OSError:
                break
        assert status_of(out) == 408
        assert time.monotonic() - started < 5  # header_timeout is 2 s
    assert httpx.get(server.url + "/robots.txt").status_code == 200


SHORT_HEAD_CONFIG = """
[http]
h1_parser = "{parser}"
header_timeout = 1.0
keepalive_timeout = 60.0
"""


@pytest.mark.parametrize("parser", ["llhttp", "h11"])
@pytest.mark.parametrize("sent", [
    b"GET /rob",                                                          # in the request line
    b"GET /robots.txt HTTP/1.1\r\nHost: x\r\nAccept: te",                 # in a header field
    b"GET /about HTTP/1.1\r\nHost: x\r\n\r\nGET /robots.txt HTTP/1.1\r\nHo",  # the second of two requests
], ids=["request-line", "header-field", "pipelined"])
def test_a_head_that_stops_halfway_gets_408_after_header_timeout(site: Path, parser: str, sent: bytes) -> None:
    # RFC 9110 §15.5.9: the head was begun and not finished within header_timeout;
    # keepalive_timeout (for a connection with nothing begun) is far longer.
    with run_dynlan(site, config=SHORT_HEAD_CONFIG.format(parser=parser)) as srv:
        started = time.monotonic()
        out = raw(srv, sent, read_timeout=30)
        elapsed = time.monotonic() - started
    assert status_lines(out)[-1] == 408, out
    assert b"<h1>about</h1>" in out or not sent.startswith(b"GET /about")
    assert 0.9 < elapsed < 30


def test_access_log_line(server: RunningServer) -> None:
    httpx.get(server.url + "/robots.txt?access-log-probe=1")
    deadline = time.monotonic() + 30
    while "access-log-probe" not in server.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    # The query string is part of what was asked for: it stays in the line.
    line = next(entry for entry in server.log().splitlines()
                if '"GET /robots.txt?access-log-probe=1 HTTP/1.1" 200' in entry)
    fields = line.split()
    assert fields[1] == "127.0.0.1"
    assert fields[5] == "200" and fields[6] == "14" and fields[7].endswith("ms") and len(fields[8]) >= 8


@pytest.mark.parametrize("how", ["reset", "close"])
def test_a_client_gone_mid_download_is_an_access_line_not_an_error(tmp_path_factory: pytest.TempPathFactory,
                                                                    how: str) -> None:
    root = tmp_path_factory.mktemp("gone")
    size = 64 * 1024 * 1024
    with open(root / "big.bin", "wb") as f:
        f.truncate(size)
    with run_dynlan(root) as srv:
        sock = socket.create_connection(("127.0.0.1", srv.port))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(b"GET /big.bin?gone=" + how.encode() + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(4096).startswith(b"HTTP/1.1 200 ")
        if how == "reset":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        sock.close()
        deadline = time.monotonic() + 30
        while f"/big.bin?gone={how} HTTP/1.1" not in srv.log():
            assert time.monotonic() < deadline, srv.log()
            time.sleep(0.05)
        log = srv.log()
    assert "Traceback" not in log and " ERROR " not in log, log
    line = next(entry for entry in log.splitlines() if "/big.bin?gone=" in entry)
    assert line.split()[5] == "200" and int(line.split()[6]) < size  # what was sent, not the file's size


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_large_file_to_a_slow_client_keeps_memory_flat(tmp_path_factory: pytest.TempPathFactory) -> None:
    from tests._server import run_dynlan

    root = tmp_path_factory.mktemp("big")
    with open(root / "big.bin", "wb") as f:
        f.truncate(1024 * 1024 * 1024)  # 1 GiB, sparse
    with run_dynlan(root) as server:
        worker = server.worker_pid()
        baseline = _rss_kib(worker)
        with socket.create_connection(("127.0.0.1", server.port)) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
            received = 0
            peak = baseline
            started = time.monotonic()
            while time.monotonic() - started < 3:
                chunk = s.recv(65536)
                assert chunk
                received += len(chunk)
                peak = max(peak, _rss_kib(worker))
                time.sleep(0.01)  # a slow reader
        assert received < 1024 * 1024 * 1024
        assert peak - baseline < 32 * 1024, f"server grew by {(peak - baseline) // 1024} MiB"
        # The full file does arrive for a client that reads it all.
        p = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{size_download}", "--max-time", "60", server.url + "/big.bin"],
                           capture_output=True, text=True, check=False)
        assert p.stdout == str(1024 * 1024 * 1024)


def test_directory_listing_is_off_by_default_and_can_be_enabled(tmp_path_factory: pytest.TempPathFactory) -> None:
    from tests._server import run_dynlan

    root = tmp_path_factory.mktemp("listing")
    (root / "index.html").write_text("home")
    (root / "files").mkdir()
    (root / "files" / "a.txt").write_text("a")
    (root / "files" / ".hidden").write_text("h")
    with run_dynlan(root) as server:
        assert httpx.get(server.url + "/files/").status_code == 404
    with run_dynlan(root, config="[static]\nlisting = true\n") as server:
        r = httpx.get(server.url + "/files/")
        assert r.status_code == 200 and "a.txt" in r.text and ".hidden" not in r.text
