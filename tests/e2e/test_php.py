"""PHP pages end to end with a real php-cgi: demo pages, uploads, sessions, path info and path tricks, bodies of
unknown length, HEAD and statuses, failures."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from dynlan.server._tls import development_certificate
from tests._h3client import fetch
from tests._server import RunningServer, curl, free_port, run_dynlan, wait_port

pytestmark = pytest.mark.e2e

DEMO = Path(__file__).resolve().parents[2] / "sites" / "demo"



def test_demo_php_pages_with_curl() -> None:
    with run_dynlan(DEMO) as server:
        assert curl(server.url + "/php/hello?name=curl") == "Hello, curl! (PHP)\n"
        assert "<form" in curl(server.url + "/php/form")
        assert "Thanks, &lt;Ada&gt;. You like teal." in curl("-d", "name=<Ada>&colour=teal", server.url + "/php/form")
        assert "visited 1 times" in curl(server.url + "/counter")
        assert "Visited 2 times (shared with /counter)" in curl(server.url + "/php/counter")
        assert json.loads(curl(server.url + "/php/items/ab-12")) == {"sku": "ab-12", "in_stock": True}
        assert curl(server.url + "/php/hello.php?name=x") == "Hello, x! (PHP)\n"  # the file's own URL runs it


CRASH = """<?php
// Every level recurses through a C frame (array_map), and PHP 8.2 has no stack limit: php-cgi dies of a
// stack overflow (posix_kill, the plainer way, is disabled for pages).
function down($n) { return array_map('down', [$n + 1]); }
down(0);
"""

PAGES = {
    "upload.php": """<?php
$in = fopen('php://input', 'rb');
$ctx = hash_init('sha256');
$size = 0;
while (!feof($in)) { $chunk = fread($in, 1 << 20); $size += strlen($chunk); hash_update($ctx, $chunk); }
echo $size . ' ' . hash_final($ctx);
""",
    "files.php": """<?php
$f = $_FILES['doc'];
echo $f['name'] . ' ' . $f['size'] . ' ' . file_get_contents($f['tmp_name']);
""",
    "session.php": """<?php
session_start();
$_SESSION['n'] = ($_SESSION['n'] ?? 0) + 1;
echo $_SESSION['n'];
""",
    "cookies.php": """<?php
setcookie('a', '1');
setcookie('b', '2');
header('Location: /elsewhere');
""",
    "server.php": """<?php
header('Content-Type: application/json');
$keys = ['SCRIPT_FILENAME', 'SCRIPT_NAME', 'PATH_INFO', 'PATH_TRANSLATED', 'PHP_SELF', 'QUERY_STRING',
         'REQUEST_METHOD', 'CONTENT_TYPE', 'CONTENT_LENGTH', 'DOCUMENT_ROOT', 'REQUEST_URI', 'SERVER_PROTOCOL',
         'REMOTE_ADDR', 'REDIRECT_STATUS', 'HTTP_X_CUSTOM', 'HTTP_PROXY'];
$out = [];
foreach ($keys as $k) { $out[$k] = $_SERVER[$k] ?? null; }
echo json_encode($out);
""",
    "body.php": """<?php
header('Content-Type: application/json');
$input = file_get_contents('php://input');
$files = array_map(fn($f) => [$f['name'], $f['size'], hash_file('sha256', $f['tmp_name'])], $_FILES);
echo json_encode(['length' => $_SERVER['CONTENT_LENGTH'] ?? null, 'post' => $_POST, 'input' => $input,
                  'files' => $files, 'te' => $_SERVER['HTTP_TRANSFER_ENCODING'] ?? null]);
""",
    "missing.php": """<?php
if (isset($_GET['code'])) { http_response_code(404); } else { header('Status: 404 Not Found'); }
header('X-Method: ' . $_SERVER['REQUEST_METHOD']);
echo 'no such item';
""",
    "crash.php": CRASH,
    "hello.php": "<?php echo 'hello';\n",
    "_private.php": "<?php echo 'EXECUTED';\n",
}


def _write_pages(root: Path, pages: dict[str, str]) -> Path:
    for name, source in pages.items():
        (root / name).parent.mkdir(exist_ok=True)
        (root / name).write_text(source)
    return root


@pytest.fixture(scope="module")
def php_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = _write_pages(tmp_path_factory.mktemp("phpsite"), PAGES)
    (root / "uploads").mkdir()
    (root / "uploads" / "image.jpg").write_text("<?php echo 'EXECUTED'; ?>")
    (root / "dir.php").mkdir()
    (root / "dir.php" / "note.txt").write_text("a note")
    return root


@pytest.fixture(scope="module")
def server(php_site: Path) -> Iterator[RunningServer]:
    config = "[http]\nmax_body_size = 134217728\n[php]\nprocesses = 2\n"
    with run_dynlan(php_site, config=config) as s:
        yield s


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def _upload_100_mib(server: RunningServer, tmp_path: Path, *curl_args: str) -> None:
    """PHP reads every byte of a 100 MiB upload, and dynlan's memory does not grow with it."""
    payload = tmp_path / "big.bin"
    block = os.urandom(1024 * 1024)
    digest = hashlib.sha256()
    with open(payload, "wb") as f:
        for _ in range(100):
            f.write(block)
            digest.update(block)
    before = _rss_kib(server.worker_pid())
    out = curl(*curl_args, "--data-binary", f"@{payload}", "-H", "Content-Type: application/octet-stream",
               server.url + "/upload", timeout=60)
    after = _rss_kib(server.worker_pid())
    assert out == f"{100 * 1024 * 1024} {digest.hexdigest()}"
    assert after - before < 48 * 1024, f"dynlan grew by {(after - before) // 1024} MiB"


def test_100_mib_upload_streams_through(server: RunningServer, tmp_path: Path) -> None:
    _upload_100_mib(server, tmp_path)


def test_a_100_mib_chunked_upload_is_spooled_not_held(server: RunningServer, tmp_path: Path) -> None:
    _upload_100_mib(server, tmp_path, "-H", "Transfer-Encoding: chunked")


def test_files_sessions_cookies_and_location(server: RunningServer, tmp_path: Path) -> None:
    doc = tmp_path / "doc.txt"
    doc.write_text("file body")
    assert curl("-F", f"doc=@{doc}", server.url + "/files") == "doc.txt 9 file body"
    with httpx.Client(base_url=server.url) as c:
        assert [c.get("/session").text for _ in range(3)] == ["1", "2", "3"]
    r = httpx.get(server.url + "/cookies")
    assert r.status_code == 302 and r.headers["location"] == "/elsewhere"
    assert r.headers.get_list("set-cookie") == ["a=1", "b=2"]


def test_cgi_variables(server: RunningServer, php_site: Path) -> None:
    r = httpx.post(server.url + "/server?x=1", content=b"abc",
                   headers={"Content-Type": "text/plain", "X-Custom": "yes", "Proxy": "http://evil:1"})
    env = r.json()
    assert env["SCRIPT_FILENAME"] == str(php_site.resolve() / "server.php")
    assert env["SCRIPT_NAME"] == "/server.php" and env["PATH_INFO"] == "" and env["PATH_TRANSLATED"] is None
    assert env["PHP_SELF"] == "/server.php"
    assert env["QUERY_STRING"] == "x=1" and env["REQUEST_URI"] == "/server?x=1"
    assert env["REQUEST_METHOD"] == "POST" and env["CONTENT_TYPE"] == "text/plain" and env["CONTENT_LENGTH"] == "3"
    assert env["DOCUMENT_ROOT"] == str(php_site.resolve()) and env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert env["REMOTE_ADDR"] == "127.0.0.1" and env["REDIRECT_STATUS"] == "200" and env["HTTP_X_CUSTOM"] == "yes"
    assert env["HTTP_PROXY"] is None  # httpoxy


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/uploads/image.jpg/x.php", {404}),
        ("/uploads/image.jpg/x.php/y", {404}),
        ("/uploads/image.jpg/hello.php/y", {404}),
        ("/uploads/image.jpg%00.php", {400}),
        ("/dir.php/note.txt", {200}),
        ("/dir.php/extra", {404}),
        ("/_private.php/x", {404}),
        ("/hello.php/.env", {404}),
        ("/hello.php/a%00b", {400}),
        ("/hello.php%00/x", {400}),
        ("/hello.php/../_private.php", {400}),
        ("/hello.php/..%2F_private.php", {400}),
    ],
)
def test_php_path_tricks(server: RunningServer, path: str, allowed: set[int]) -> None:
    out = subprocess.run(["curl", "-s", "--path-as-is", "-w", "\n%{http_code}", server.url + path],
                         capture_output=True, text=True, check=False).stdout
    body, _, code = out.rpartition("\n")
    assert int(code) in allowed
    assert "EXECUTED" not in body


def test_path_info(server: RunningServer, php_site: Path) -> None:
    root = str(php_site.resolve())
    env = httpx.get(server.url + "/server.php/extra/caf%C3%A9/?x=1").json()
    assert env["SCRIPT_FILENAME"] == root + "/server.php" and env["SCRIPT_NAME"] == "/server.php"
    assert env["PATH_INFO"] == "/extra/café/" and env["PATH_TRANSLATED"] == root + "/extra/café/"
    assert env["PHP_SELF"] == "/server.php/extra/café/"
    assert env["REQUEST_URI"] == "/server.php/extra/caf%C3%A9/?x=1" and env["QUERY_STRING"] == "x=1"
    assert curl(server.url + "/hello.php/extra") == "hello"


def _chunks(data: bytes) -> Iterator[bytes]:
    """A body httpx sends without Content-Length: chunked on HTTP/1.1, bare DATA frames on HTTP/2."""
    yield data[:5]
    yield data[5:]


@pytest.mark.parametrize("http2", [False, True], ids=["http1-chunked", "http2-no-length"])
def test_a_body_of_unknown_length_reaches_php(server: RunningServer, http2: bool) -> None:
    with httpx.Client(base_url=server.url, http1=not http2, http2=http2, timeout=20) as c:
        r = c.post("/body", content=_chunks(b"name=Ada&colour=teal"),
                   headers={"content-type": "application/x-www-form-urlencoded"})
        assert r.http_version == ("HTTP/2" if http2 else "HTTP/1.1")
        assert r.json() == {"length": "20", "post": {"name": "Ada", "colour": "teal"}, "input": "name=Ada&colour=teal",
                            "files": [], "te": None}
        r = c.post("/body", content=_chunks(b'{"raw": true}'), headers={"content-type": "application/json"})
        assert r.json()["input"] == '{"raw": true}' and r.json()["length"] == "13"


def test_a_chunked_upload_fills_files(server: RunningServer, tmp_path: Path) -> None:
    doc = tmp_path / "doc.bin"
    data = os.urandom(300_000)  # past the in-memory spool: it goes through a temporary file
    doc.write_bytes(data)
    out = json.loads(curl("-H", "Transfer-Encoding: chunked", "-F", f"doc=@{doc}", server.url + "/body"))
    assert out["files"] == {"doc": ["doc.bin", len(data), hashlib.sha256(data).hexdigest()]}
    assert int(out["length"]) > len(data)


def test_an_http3_body_without_content_length_reaches_php(php_site: Path, tmp_path: Path) -> None:
    cert, key = development_certificate(tmp_path)
    with run_dynlan(php_site, "--tls-cert", cert, "--tls-key", key, "--http3") as s:
        [r] = fetch(s.port, [("POST", "/body", b"raw body over QUIC")])
    assert r.status == 200 and json.loads(r.body)["input"] == "raw body over QUIC"
    assert json.loads(r.body)["length"] == "18"


def test_head_and_a_status_from_php(server: RunningServer) -> None:
    for http2 in (False, True):
        with httpx.Client(base_url=server.url, http1=not http2, http2=http2, timeout=20) as c:
            get, head = c.get("/hello"), c.head("/hello")
            assert head.status_code == 200 and head.content == b""
            assert head.headers["content-type"] == get.headers["content-type"]
            # RFC 9110 §8.6: a HEAD response's Content-Length, when sent, is the GET response's.
            assert head.headers.get("content-length") in (None, get.headers["content-length"])
            for query in ("", "?code=1"):  # header('Status: 404'), http_response_code(404)
                r = c.get("/missing" + query)
                assert r.status_code == 404 and r.text == "no such item" and r.headers["x-method"] == "GET"
            r = c.head("/missing")
            assert r.status_code == 404 and r.content == b"" and r.headers["x-method"] == "HEAD"


def test_uploaded_image_is_served_as_data_not_run(server: RunningServer) -> None:
    r = httpx.get(server.url + "/uploads/image.jpg")
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg" and "EXECUTED" not in r.text[:0]
    assert r.text == "<?php echo 'EXECUTED'; ?>"


def test_a_dying_php_process_takes_only_its_request(server: RunningServer) -> None:
    assert httpx.get(server.url + "/crash", timeout=20).status_code in (500, 502)
    assert httpx.get(server.url + "/hello").text == "hello"


def test_missing_php_cgi_is_explained_and_the_rest_served(php_site: Path) -> None:
    port = free_port()
    env = dict(os.environ, PATH="/nonexistent")
    proc = subprocess.Popen([sys.executable, "-m", "dynlan", "serve", str(php_site), "--port", str(port)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_port(port, proc)
        r = httpx.get(f"http://127.0.0.1:{port}/hello")
        assert r.status_code == 503 and "php-cgi not found: apt-get install php-cgi" in r.text
        assert httpx.get(f"http://127.0.0.1:{port}/dir.php/note.txt").text == "a note"
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    assert "php-cgi not found" in out


def test_recycled_after_max_requests(php_site: Path) -> None:
    (php_site / "pid.php").write_text("<?php echo getmypid();\n")
    with run_dynlan(php_site, config="[php]\nprocesses = 1\nmax_requests = 3\n") as s:
        pids = [httpx.get(s.url + "/pid").text for _ in range(7)]
    assert len(set(pids)) == 3 and pids[0] == pids[1] == pids[2] and pids[3] != pids[2]


def test_recycling_under_load_never_fails_a_request(php_site: Path) -> None:
    # A process is replaced every 3 requests while 16 connections keep both slots busy: a
    # replacement is started while the process it replaces is killed and reaped.
    (php_site / "pid.php").write_text("<?php echo getmypid();\n")
    with run_dynlan(php_site, "--no-access-log", config="[php]\nprocesses = 2\nmax_requests = 3\n") as s:
        before = {httpx.get(s.url + "/pid").text for _ in range(2)}
        out = subprocess.run(["h2load", "--h1", "-n", "900", "-c", "16", s.url + "/pid"], capture_output=True,
                             text=True, timeout=600, check=True).stdout
        after = {httpx.get(s.url + "/pid").text for _ in range(2)}
        log = s.log()
    # 300 replacements.
    assert re.search(r"requests: 900 total, 900 started, 900 done, 900 succeeded, 0 failed", out), out
    assert "status codes: 900 2xx" in out, out
    assert before.isdisjoint(after)  # recycled all along
    assert "Traceback" not in log and "php-cgi failed" not in log, log


DEV_PAGES = {
    "pid.php": "<?php echo getmypid();\n",
    "fatal.php": "<?php\nundefined_function_on_purpose();\n",
    "user_error.php": "<?php\ntrigger_error('stopped on purpose', E_USER_ERROR);\n",
    "parse.php": "<?php\necho 'unfinished'\n",
    "crash.php": CRASH,
    "hello.php": "<?php echo 'hello ' . $_SERVER['PATH_INFO'];\n",
    "[section]/[page].php": "<?php echo 'dynamic ' . dynlan_param('section') . ' ' . dynlan_param('page');\n",
}


@pytest.fixture(scope="module")
def dev_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One php-cgi process, so its pid tells whether the pool replaced it."""
    root = _write_pages(tmp_path_factory.mktemp("phpdev"), DEV_PAGES)
    config = "[http]\nmax_body_size = 1048576\n[php]\nprocesses = 1\n"
    with run_dynlan(root, "--dev", config=config) as s:
        yield s


def _logged(server: RunningServer, pattern: str) -> bool:
    deadline = time.monotonic() + 30
    while not re.search(pattern, server.log()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return re.search(pattern, server.log()) is not None


def test_php_errors_end_their_request_not_the_process(dev_server: RunningServer) -> None:
    errors = {
        "/fatal": "Call to undefined function undefined_function_on_purpose()",
        "/user_error": "stopped on purpose",
        "/parse": "syntax error, unexpected end of file",
    }
    with httpx.Client(base_url=dev_server.url, timeout=20) as c:
        pid = c.get("/pid").text
        for _ in range(3):
            for path, message in errors.items():
                r = c.get(path)
                assert r.status_code == 500 and message in r.text  # dev mode shows PHP's error
                request_id = re.search(r"request id (\w+)", r.text)
                assert request_id
                assert _logged(dev_server, re.escape(f"[{request_id.group(1)}] {path[1:]}.php: ") + ".*" + re.escape(message))
        # A fatal error is a complete FastCGI response (FCGI_END_REQUEST): the process serves on.
        assert c.get("/pid").text == pid
        # A process that dies mid-request is a transport failure: only then is it replaced.
        assert c.get("/crash").status_code in (500, 502)
        assert c.get("/pid").text not in ("", pid)


def test_path_info_beats_a_dynamic_route(dev_server: RunningServer) -> None:
    assert curl(dev_server.url + "/hello.php/x") == "hello /x"
    assert curl(dev_server.url + "/a/b") == "dynamic a b"


def test_a_chunked_body_over_the_limit_is_413_before_php(dev_server: RunningServer, tmp_path: Path) -> None:
    payload = tmp_path / "over.bin"
    payload.write_bytes(b"x" * (2 * 1024 * 1024))  # max_body_size is 1 MiB
    pid = httpx.get(dev_server.url + "/pid").text
    out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Transfer-Encoding: chunked",
                          "--data-binary", f"@{payload}", dev_server.url + "/pid"],
                         capture_output=True, text=True, check=False, timeout=30).stdout
    assert out == "413"
    assert httpx.get(dev_server.url + "/pid").text == pid
