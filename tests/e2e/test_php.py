"""PHP pages end to end with a real php-cgi: demo pages, uploads, sessions, path tricks, failures."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

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
$keys = ['SCRIPT_FILENAME', 'SCRIPT_NAME', 'PATH_INFO', 'QUERY_STRING', 'REQUEST_METHOD', 'CONTENT_TYPE',
         'CONTENT_LENGTH', 'DOCUMENT_ROOT', 'REQUEST_URI', 'SERVER_PROTOCOL', 'REMOTE_ADDR', 'REDIRECT_STATUS',
         'HTTP_X_CUSTOM', 'HTTP_PROXY'];
$out = [];
foreach ($keys as $k) { $out[$k] = $_SERVER[$k] ?? null; }
echo json_encode($out);
""",
    "crash.php": "<?php posix_kill(getmypid(), 9);\n",
    "hello.php": "<?php echo 'hello';\n",
}


@pytest.fixture(scope="module")
def php_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("phpsite")
    for name, source in PAGES.items():
        (root / name).write_text(source)
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


def test_100_mib_upload_streams_through(server: RunningServer, tmp_path: Path) -> None:
    payload = tmp_path / "big.bin"
    block = os.urandom(1024 * 1024)
    digest = hashlib.sha256()
    with open(payload, "wb") as f:
        for _ in range(100):
            f.write(block)
            digest.update(block)
    before = _rss_kib(server.proc.pid)
    out = curl("--data-binary", f"@{payload}", "-H", "Content-Type: application/octet-stream", server.url + "/upload")
    after = _rss_kib(server.proc.pid)
    assert out == f"{100 * 1024 * 1024} {digest.hexdigest()}"
    assert after - before < 48 * 1024, f"dynlan grew by {(after - before) // 1024} MiB"


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
    assert env["SCRIPT_NAME"] == "/server.php" and env["PATH_INFO"] == ""
    assert env["QUERY_STRING"] == "x=1" and env["REQUEST_URI"] == "/server?x=1"
    assert env["REQUEST_METHOD"] == "POST" and env["CONTENT_TYPE"] == "text/plain" and env["CONTENT_LENGTH"] == "3"
    assert env["DOCUMENT_ROOT"] == str(php_site.resolve()) and env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert env["REMOTE_ADDR"] == "127.0.0.1" and env["REDIRECT_STATUS"] == "200" and env["HTTP_X_CUSTOM"] == "yes"
    assert env["HTTP_PROXY"] is None  # httpoxy


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/uploads/image.jpg/x.php", {404}),
        ("/uploads/image.jpg%00.php", {400}),
        ("/dir.php/note.txt", {200}),
        ("/hello.php/extra", {404}),
    ],
)
def test_php_path_tricks(server: RunningServer, path: str, allowed: set[int]) -> None:
    out = subprocess.run(["curl", "-s", "--path-as-is", "-w", "\n%{http_code}", server.url + path],
                         capture_output=True, text=True, check=False).stdout
    body, _, code = out.rpartition("\n")
    assert int(code) in allowed
    assert "EXECUTED" not in body


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
        time.sleep(0.1)
    assert len(set(pids)) == 3 and pids[0] == pids[1] == pids[2] and pids[3] != pids[2]
