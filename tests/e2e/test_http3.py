"""HTTP/3 with two independent QUIC stacks (niquests on qh3, aioquic) and headless Chromium."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import niquests
import pytest
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import QuicConnection
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from dynlan.server._tls import development_certificate
from tests._h3client import fetch
from tests._server import RunningServer, run_dynlan

pytestmark = [
    pytest.mark.e2e,
    # niquests does not verify here (see session()); its warning about that is expected.
    pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning"),
]

DEMO = Path(__file__).resolve().parents[2] / "sites" / "demo"
TEN_MIB = 10 * 1024 * 1024


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    return development_certificate(tmp_path_factory.mktemp("tls3"))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, cert: tuple[str, str]) -> Iterator[RunningServer]:
    root = tmp_path_factory.mktemp("h3site")
    shutil.copytree(DEMO, root, dirs_exist_ok=True)
    (root / "ten.bin").write_bytes(hashlib.sha256(b"ten").digest() * (TEN_MIB // 32))
    (root / "upload.py").write_text(
        "import hashlib\n\n"
        "async def handle(request, response):\n"
        "    body = await request.body()\n"
        "    response.write('%d %s %s' % (len(body), hashlib.sha256(body).hexdigest(), request.http_version))\n"
    )
    (root / "slow.lua").write_text("sleep(3)\nprint('late')\n")
    # Ten MiB through a Python QUIC stack on a busy machine: time enough for the pages that read it.
    config = "[http]\nmax_body_size = 20971520\n[limits]\nwall_time = 60.0\n"
    with run_dynlan(root, "--tls-cert", cert[0], "--tls-key", cert[1], "--http3", config=config) as s:
        yield s


def session(cert: tuple[str, str]) -> niquests.Session:
    # HTTP/3 at once, without learning it from Alt-Svc first. qh3 (niquests' QUIC stack)
    # does not take a CA file here, so this client does not verify; the aioquic client does.
    return niquests.Session(disable_http1=True, disable_http2=True)


def url(server: RunningServer, path: str) -> str:
    return f"https://localhost:{server.port}{path}"


def test_alt_svc_is_advertised_over_tcp(server: RunningServer, cert: tuple[str, str]) -> None:
    import ssl

    with httpx.Client(http2=True, verify=ssl.create_default_context(cafile=cert[0])) as client:
        r = client.get(url(server, "/"))
    assert r.headers["alt-svc"] == f'h3=":{server.port}"; ma=86400'


def test_niquests_get_pages_of_every_runtime(server: RunningServer, cert: tuple[str, str]) -> None:
    with session(cert) as s:
        for path, text in (("/", "<h1>DynLan</h1>"), ("/hello", "Hello, world! (Lua)"),
                           ("/py/hello", "Python"), ("/php/hello", "PHP")):
            r = s.get(url(server, path), verify=False, timeout=20)
            assert r.status_code == 200, (path, r.text)
            assert r.http_version == 30
            assert text in (r.text or "")


def test_niquests_10_mib_up_and_down(server: RunningServer, cert: tuple[str, str]) -> None:
    body = os.urandom(TEN_MIB)
    with session(cert) as s:
        r = s.post(url(server, "/upload"), verify=False, data=body, timeout=60,
                   headers={"content-type": "application/octet-stream"})
        assert r.status_code == 200 and r.http_version == 30
        assert r.text == f"{TEN_MIB} {hashlib.sha256(body).hexdigest()} 3"
        r = s.get(url(server, "/ten.bin"), verify=False, timeout=60)
        assert r.status_code == 200 and r.content == (server_file := hashlib.sha256(b"ten").digest() * (TEN_MIB // 32))
        assert len(server_file) == TEN_MIB


def test_niquests_concurrent_streams(server: RunningServer, cert: tuple[str, str]) -> None:
    with niquests.Session(disable_http1=True, disable_http2=True, multiplexed=True) as s:
        responses = [s.get(url(server, f"/users/{i}"), verify=False, timeout=30) for i in range(20)]
        s.gather()
        for i, r in enumerate(responses):
            assert r.status_code == 200 and f"{i}" in (r.text or "")
            assert r.http_version == 30


def test_aioquic_client(server: RunningServer, cert: tuple[str, str]) -> None:
    body = os.urandom(TEN_MIB)
    requests = [("GET", "/hello", b""), ("GET", "/py/hello", b""), ("GET", "/php/hello", b""),
                ("POST", "/upload", body), ("GET", "/ten.bin", b"")]
    requests += [("GET", f"/users/{i}", b"") for i in range(30)]
    responses = fetch(server.port, requests, cafile=cert[0])
    assert [r.status for r in responses] == [200] * len(requests)
    assert "Hello, world! (Lua)" in responses[0].body.decode()
    assert responses[3].body.decode() == f"{TEN_MIB} {hashlib.sha256(body).hexdigest()} 3"
    assert len(responses[4].body) == TEN_MIB
    assert all(f"{i}" in r.body.decode() for i, r in enumerate(responses[5:]))


def test_reset_stream_cancels_only_its_page(server: RunningServer, cert: tuple[str, str]) -> None:
    import asyncio

    from aioquic.asyncio.client import connect

    from tests._h3client import H3Client, client_configuration

    running = server.pages_running()

    async def scenario() -> tuple[int, str]:
        async with connect("127.0.0.1", server.port, configuration=client_configuration(cert[0]),
                           create_protocol=H3Client) as client:
            assert isinstance(client, H3Client)
            slow = asyncio.ensure_future(client.request("GET", "localhost", "/slow"))
            await asyncio.to_thread(server.wait_pages_running, running + 1)  # the page runs: there is one to cancel
            client._quic.reset_stream(0, 0x10C)  # H3_REQUEST_CANCELLED on the slow request's stream
            client.transmit()
            slow.cancel()
            r = await client.request("GET", "localhost", "/hello")
            return r.status, r.body.decode()

    status, text = asyncio.run(asyncio.wait_for(scenario(), 60))
    assert status == 200 and "Hello" in text


def test_bad_datagrams_do_not_disturb_connections(server: RunningServer, cert: tuple[str, str]) -> None:
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    target = ("127.0.0.1", server.port)
    for size in (0, 1, 20, 1200, 1500):
        udp.sendto(os.urandom(size), target)  # malformed
    udp.sendto(b"\x40" + os.urandom(8) + b"short header, unknown id", target)
    # A flood of Initial packets that never complete a handshake.
    for _ in range(300):
        quic = QuicConnection(configuration=QuicConfiguration(is_client=True, alpn_protocols=["h3"]))
        quic.connect(target, now=time.monotonic())
        for data, _ in quic.datagrams_to_send(now=time.monotonic()):
            udp.sendto(data, target)
    udp.close()
    with session(cert) as s:
        r = s.get(url(server, "/hello"), verify=False, timeout=20)
        assert r.status_code == 200 and r.http_version == 30
    assert "Traceback" not in server.log()


def test_http3_needs_tls(tmp_path: Path) -> None:
    import sys

    out = subprocess.run([sys.executable, "-m", "dynlan", "serve", str(DEMO), "--http3"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 2 and "HTTP/3 needs TLS" in out.stderr


def _spki_hash(cert_path: str) -> str:
    cert = x509.load_pem_x509_certificate(Path(cert_path).read_bytes())
    spki = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


def test_chromium_loads_the_demo_over_h3(server: RunningServer, cert: tuple[str, str]) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    assert browser is not None, "chromium is not installed (apt-get install chromium)"
    profile = tempfile.mkdtemp(prefix="dynlan-chromium-")
    origin = f"localhost:{server.port}"
    try:
        out = subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--disable-background-networking", "--no-first-run", "--disable-extensions",
             f"--user-data-dir={profile}", "--enable-quic", f"--origin-to-force-quic-on={origin}",
             # The server listens on 127.0.0.1; forced QUIC does not fall back from ::1.
             "--host-resolver-rules=MAP localhost 127.0.0.1",
             f"--ignore-certificate-errors-spki-list={_spki_hash(cert[0])}",
             "--virtual-time-budget=5000", "--dump-dom", f"https://{origin}/"],
            capture_output=True, text=True, timeout=90,
        )
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    assert "<h1>DynLan</h1>" in out.stdout, out.stderr[-2000:]
    needed = ('"GET / HTTP/3"', '"GET /assets/style.css HTTP/3"', '"GET /assets/app.js HTTP/3"')
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not all(n in server.log() for n in needed):
        time.sleep(0.2)
    log = server.log()
    for line in needed:
        assert line in log, log[-3000:]


# A page ending within the 2 s a closing connection's answers have to be acknowledged, and one ending after
# them: the 2 s count from the answer, not from the signal.
@pytest.mark.parametrize("page_seconds", [1.5, 3.0])
def test_graceful_shutdown_finishes_streams(cert: tuple[str, str], tmp_path: Path, page_seconds: float) -> None:
    import asyncio

    from aioquic.asyncio.client import connect

    from tests._h3client import H3Client, client_configuration

    (tmp_path / "slow.lua").write_text(f"sleep({page_seconds})\nprint('finished')\n")
    with run_dynlan(tmp_path, "--tls-cert", cert[0], "--tls-key", cert[1], "--http3") as server:

        async def scenario() -> tuple[int, bytes]:
            async with connect("127.0.0.1", server.port, configuration=client_configuration(cert[0]),
                               create_protocol=H3Client) as client:
                assert isinstance(client, H3Client)
                slow = asyncio.ensure_future(client.request("GET", "localhost", "/slow"))
                await asyncio.to_thread(server.wait_pages_running)  # in flight when the signal comes
                server.proc.terminate()
                assert not slow.done(), "the request was over before the signal: nothing was in flight"
                r = await slow
                return r.status, r.body

        status, body = asyncio.run(asyncio.wait_for(scenario(), 60))
        assert status == 200 and body == b"finished\n"
        assert server.proc.wait(10) == 0
