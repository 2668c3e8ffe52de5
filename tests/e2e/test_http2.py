"""HTTP/2 with real clients: curl, nghttp, h2load, httpx and headless Chromium (TLS itself: test_tls.py)."""

from __future__ import annotations

import base64
import hashlib
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from dynlan.server._tls import development_certificate
from tests._server import RunningServer, curl, run_dynlan

pytestmark = pytest.mark.e2e

DEMO = Path(__file__).resolve().parents[2] / "sites" / "demo"
BIG = 100 * 1024 * 1024


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    return development_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("h2site")
    shutil.copytree(DEMO, root, dirs_exist_ok=True)
    with open(root / "big.bin", "wb") as f:
        f.truncate(BIG)  # sparse: 100 MiB of zeros without writing them
    (root / "upload.py").write_text(
        "import hashlib\n\n"
        "async def handle(request, response):\n"
        "    body = await request.body()\n"
        "    response.write('%d %s' % (len(body), hashlib.sha256(body).hexdigest()))\n"
    )
    (root / "slow.lua").write_text("sleep(tonumber(request.query.s or '1'))\nprint('finished')\n")
    return root


CONFIG = """
[http]
max_body_size = 209715200
[tls]
hsts_max_age = 600
[limits]
wall_time = 240.0
"""
# wall_time: the upload page reads 100 MiB within its wall time, which takes far longer than the default
# 10 s on a busy machine.


@pytest.fixture(scope="module")
def https(site: Path, cert: tuple[str, str]) -> Iterator[RunningServer]:
    with run_dynlan(site, "--tls-cert", cert[0], "--tls-key", cert[1], config=CONFIG) as server:
        yield server


@pytest.fixture(scope="module")
def h2c(site: Path) -> Iterator[RunningServer]:
    with run_dynlan(site, config=CONFIG) as server:
        yield server


def https_url(server: RunningServer, path: str = "/") -> str:
    return f"https://localhost:{server.port}{path}"


def test_banner_and_curl_over_tls(https: RunningServer, cert: tuple[str, str]) -> None:
    out = curl("--http2", "--cacert", cert[0], "-o", "/dev/null", "-w", "%{http_version} %{http_code}", https_url(https))
    assert out == "2 200"
    assert f"https://127.0.0.1:{https.port}/" in https.log()


def test_hsts_and_pages_over_h2(https: RunningServer, cert: tuple[str, str]) -> None:
    with httpx.Client(http2=True, verify=ssl.create_default_context(cafile=cert[0])) as client:
        for path, text in (("/hello", "Hello, world! (Lua)"), ("/py/hello", "Python"), ("/php/hello", "PHP")):
            r = client.get(https_url(https, path))
            assert r.http_version == "HTTP/2" and r.status_code == 200, (path, r.text)
            assert text in r.text
            assert r.headers["strict-transport-security"] == "max-age=600"


def test_h2c_prior_knowledge_and_upgrade(h2c: RunningServer) -> None:
    assert curl("--http2-prior-knowledge", "-o", "/dev/null", "-w", "%{http_version}", h2c.url + "/hello") == "2"
    # Upgrade: h2c (RFC 7540 §3.2): 101, then the answer to the same request on stream 1.
    upgraded = subprocess.run(["curl", "-sSv", "--http2", "--max-time", "30", h2c.url + "/hello"],
                              capture_output=True, text=True, timeout=60, check=True)
    assert "HTTP/1.1 101" in upgraded.stderr and "HTTP/2 200" in upgraded.stderr, upgraded.stderr
    assert "Hello, world! (Lua)" in upgraded.stdout
    # Plain HTTP/1.1 on the same port is unaffected.
    assert curl("-o", "/dev/null", "-w", "%{http_version}", h2c.url + "/") == "1.1"


def test_head_and_trailers_over_h2(h2c: RunningServer) -> None:
    for path in ("/hello", "/assets/style.css"):
        r = subprocess.run(["curl", "-sS", "--http2-prior-knowledge", "-I", "--max-time", "30", h2c.url + path],
                           capture_output=True, text=True, timeout=60, check=True)
        assert r.stdout.startswith("HTTP/2 200"), r.stdout
        assert "connection:" not in r.stdout.lower() and "transfer-encoding" not in r.stdout.lower()
    # A request body followed by trailers (httpx/h2 sends none; nghttp does with --trailer).
    out = subprocess.run(["nghttp", "-d", "-", "--trailer", "x-checksum: abc", h2c.url + "/upload"],
                         input="hello", capture_output=True, text=True, timeout=30)
    assert out.stdout.startswith("5 " + hashlib.sha256(b"hello").hexdigest()), (out.stdout, out.stderr)


def test_nghttp(https: RunningServer, h2c: RunningServer) -> None:
    for url in (https_url(https, "/"), h2c.url + "/"):
        out = subprocess.run(["nghttp", "-nv", url], capture_output=True, text=True, timeout=30).stdout
        assert ":status: 200" in out, out[-2000:]
    # -a fetches the page's assets on concurrent streams.
    out = subprocess.run(["nghttp", "-ans", h2c.url + "/"], capture_output=True, text=True, timeout=30).stdout
    assert "/assets/style.css" in out and "/assets/app.js" in out


def test_h2load_has_no_failures(https: RunningServer, h2c: RunningServer) -> None:
    for url in (h2c.url + "/hello", https_url(https, "/assets/style.css")):
        out = subprocess.run(["h2load", "-n", "2000", "-c", "4", "-m", "10", url],
                             capture_output=True, text=True, timeout=120).stdout
        assert "2000 succeeded, 0 failed, 0 errored" in out, out[-1500:]


def test_100_mib_download_over_one_stream(h2c: RunningServer) -> None:
    out = curl("--http2-prior-knowledge", "-o", "/dev/null", "-w", "%{http_version} %{size_download}",
               h2c.url + "/big.bin", timeout=300)
    assert out == f"2 {BIG}"


def test_100_mib_upload_over_one_stream(h2c: RunningServer, tmp_path: Path) -> None:
    data = tmp_path / "upload.bin"
    block = hashlib.sha256(b"seed").digest() * 32768  # 1 MiB
    with open(data, "wb") as f:
        for _ in range(100):
            f.write(block)
    digest = hashlib.sha256(block * 100).hexdigest()
    out = curl("--http2-prior-knowledge", "--data-binary", f"@{data}", "-H", "content-type: application/octet-stream",
               h2c.url + "/upload", timeout=300)
    assert out == f"{BIG} {digest}"


def test_body_over_the_limit_is_413_on_that_stream(site: Path) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(8):
            yield b"x" * 1024

    with run_dynlan(site, config="[http]\nmax_body_size = 4096\n") as server, \
            httpx.Client(http1=False, http2=True, base_url=server.url) as client:
        assert client.post("/upload", content=b"x" * 5000).status_code == 413  # declared length
        assert client.post("/upload", content=chunks()).status_code == 413  # found while reading
        r = client.post("/upload", content=b"x" * 100)
        assert r.status_code == 200 and r.text.startswith("100 ")  # same connection, other streams
        assert r.http_version == "HTTP/2"


def test_graceful_shutdown_sends_goaway_and_finishes_streams(site: Path) -> None:
    import h2.config
    import h2.connection
    from hyperframe.frame import DataFrame, Frame, GoAwayFrame, HeadersFrame

    with run_dynlan(site) as server:
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        sock = socket.create_connection(("127.0.0.1", server.port))
        sock.settimeout(10)
        conn.initiate_connection()
        conn.send_headers(1, [(":method", "GET"), (":path", "/slow?s=3"), (":scheme", "http"),
                              (":authority", "localhost")], end_stream=True)
        sock.sendall(conn.data_to_send())
        server.wait_pages_running()  # the stream's page runs: it is in flight when the GOAWAY goes
        server.proc.terminate()
        # Frames are read raw: after GOAWAY the stream in flight must still be answered.
        buffer = b""
        frames: list[Frame] = []
        while not any(isinstance(f, DataFrame) and "END_STREAM" in f.flags for f in frames):
            data = sock.recv(65536)
            if not data:
                break
            buffer += data
            while len(buffer) >= 9:
                frame, length = Frame.parse_frame_header(memoryview(buffer[:9]))
                if len(buffer) < 9 + length:
                    break
                frame.parse_body(memoryview(buffer[9 : 9 + length]))
                frames.append(frame)
                buffer = buffer[9 + length :]
        sock.close()
        goaways = [f for f in frames if isinstance(f, GoAwayFrame)]
        assert goaways and goaways[0].last_stream_id == 1 and goaways[0].error_code == 0
        after = frames[frames.index(goaways[0]) :]
        assert any(isinstance(f, HeadersFrame) and f.stream_id == 1 for f in after)
        assert b"".join(f.data for f in after if isinstance(f, DataFrame)) == b"finished\n"
        assert server.proc.wait(10) == 0


def _spki_hash(cert_path: str) -> str:
    cert = x509.load_pem_x509_certificate(Path(cert_path).read_bytes())
    spki = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


def test_chromium_loads_the_demo_over_h2(https: RunningServer, cert: tuple[str, str]) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    assert browser is not None, "chromium is not installed (apt-get install chromium)"
    profile = tempfile.mkdtemp(prefix="dynlan-chromium-")
    try:
        out = subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--disable-background-networking", "--no-first-run", "--disable-extensions",
             f"--user-data-dir={profile}", f"--ignore-certificate-errors-spki-list={_spki_hash(cert[0])}",
             "--virtual-time-budget=5000", "--dump-dom", https_url(https, "/")],
            capture_output=True, text=True, timeout=90,
        )
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    assert "<h1>DynLan</h1>" in out.stdout, out.stderr[-2000:]
    deadline = time.monotonic() + 30
    needed = ('"GET / HTTP/2"', '"GET /assets/style.css HTTP/2"', '"GET /assets/app.js HTTP/2"')
    while time.monotonic() < deadline and not all(n in https.log() for n in needed):
        time.sleep(0.2)  # the access log is written in batches
    log = https.log()
    for line in needed:
        assert line in log, log[-3000:]
