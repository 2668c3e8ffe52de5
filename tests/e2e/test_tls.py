"""TLS with real clients: ALPN, protocol versions, SNI, the development certificate,
the redirect listener, handshake timeouts and command-line errors."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from dynlan.server._tls import development_certificate
from tests._server import RunningServer, curl, free_port, run_dynlan

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    return development_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def https(site: Path, cert: tuple[str, str]) -> Iterator[RunningServer]:
    config = "[tls]\nhandshake_timeout = 1.0\n[server]\nmax_connections = 4\n"
    with run_dynlan(site, "--tls-cert", cert[0], "--tls-key", cert[1], config=config) as server:
        yield server


def https_url(server: RunningServer, path: str = "/") -> str:
    return f"https://localhost:{server.port}{path}"


def test_https_over_http1_and_the_banner(https: RunningServer, cert: tuple[str, str]) -> None:
    with httpx.Client(verify=ssl.create_default_context(cafile=cert[0])) as client:
        r = client.get(https_url(https, "/about"))
        assert r.status_code == 200 and r.http_version == "HTTP/1.1"
    assert f"https://127.0.0.1:{https.port}/" in https.log()


def test_alpn_falls_back_to_http1(https: RunningServer, cert: tuple[str, str]) -> None:
    out = curl("--http1.1", "--cacert", cert[0], "-o", "/dev/null", "-w", "%{http_version}", https_url(https, "/hello"))
    assert out == "1.1"
    ctx = ssl.create_default_context(cafile=cert[0])
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    with socket.create_connection(("127.0.0.1", https.port)) as raw, ctx.wrap_socket(raw, server_hostname="localhost") as tls:
        assert tls.selected_alpn_protocol() == "h2"
        assert tls.version() in ("TLSv1.2", "TLSv1.3")


def test_old_tls_is_refused(https: RunningServer) -> None:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.1 is deprecated: that is the point
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    with pytest.raises(ssl.SSLError), socket.create_connection(("127.0.0.1", https.port)) as raw:
        ctx.wrap_socket(raw)
    assert curl("-k", "-o", "/dev/null", "-w", "%{http_code}", https_url(https)) == "200"  # still serving


def _self_signed_for(host: str, folder: Path) -> tuple[str, str]:
    """A certificate whose common name is `host` (a second certificate for SNI)."""
    import datetime

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / f"{host}.crt", folder / f"{host}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


def _served_name(port: int, server_name: str) -> str:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port)) as raw, ctx.wrap_socket(raw, server_hostname=server_name) as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).subject.rfc4514_string()


def test_sni_picks_the_certificate_per_host(site: Path, cert: tuple[str, str], tmp_path: Path) -> None:
    blog = _self_signed_for("blog.example", tmp_path)
    shop = _self_signed_for("shop.example", tmp_path)
    config = (f'[[tls.certificates]]\nhost = "blog.example"\ncert = "{blog[0]}"\nkey = "{blog[1]}"\n'
              f'[[tls.certificates]]\nhost = "*.shop.example"\ncert = "{shop[0]}"\nkey = "{shop[1]}"\n')
    with run_dynlan(site, "--tls-cert", cert[0], "--tls-key", cert[1], config=config) as server:
        assert _served_name(server.port, "blog.example") == "CN=blog.example"
        assert _served_name(server.port, "www.shop.example") == "CN=shop.example"
        assert "CN=localhost" in _served_name(server.port, "other.example")
        out = curl("--cacert", blog[0], "--resolve", f"blog.example:{server.port}:127.0.0.1",
                   "-o", "/dev/null", "-w", "%{http_version}", f"https://blog.example:{server.port}/")
        assert out == "2"


def test_self_signed_certificate_is_made_once_and_kept(site: Path, tmp_path: Path) -> None:
    env = {"XDG_CACHE_HOME": str(tmp_path)}
    with run_dynlan(site, "--tls", "self-signed", env=env) as server:
        cert_file = tmp_path / "dynlan" / "tls" / "localhost.crt"
        assert curl("--cacert", str(cert_file), "-o", "/dev/null", "-w", "%{http_code}",
                    f"https://localhost:{server.port}/") == "200"
        first = cert_file.read_bytes()
    with run_dynlan(site, "--tls", "self-signed", env=env):
        assert cert_file.read_bytes() == first
    assert oct(os.stat(tmp_path / "dynlan" / "tls" / "localhost.key").st_mode & 0o777) == "0o600"


def test_http_listener_redirects_to_https(site: Path, cert: tuple[str, str]) -> None:
    redirect = free_port()
    config = f"[tls]\nredirect_port = {redirect}\n"
    with run_dynlan(site, "--tls-cert", cert[0], "--tls-key", cert[1], config=config) as server:
        r = httpx.get(f"http://localhost:{redirect}/about?x=1")
        assert r.status_code == 308
        assert r.headers["location"] == f"https://localhost:{server.port}/about?x=1"


def test_tls_cli_errors(site: Path) -> None:

    out = subprocess.run([sys.executable, "-m", "dynlan", "serve", str(site), "--tls-cert", "/nonexistent.pem",
                          "--tls-key", "/nonexistent.key", "--port", str(free_port())],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 2 and "TLS: cannot read /nonexistent.pem" in out.stderr
    out = subprocess.run([sys.executable, "-m", "dynlan", "serve", str(site), "--tls-cert", "/x.pem"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 2 and "--tls-cert and --tls-key go together" in out.stderr

def test_a_stalled_handshake_holds_only_its_own_connection(https: RunningServer, cert: tuple[str, str]) -> None:
    # Clients that connect and never finish the handshake (slowloris for TLS) take
    # every connection slot (max_connections = 4), but only for handshake_timeout:
    # the next client waits in the backlog for a second, then is served.
    started = time.monotonic()
    stalled = [socket.create_connection(("127.0.0.1", https.port)) for _ in range(4)]
    try:
        stalled[0].sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")  # half a ClientHello
        assert curl("--cacert", cert[0], "-o", "/dev/null", "-w", "%{http_code}", https_url(https)) == "200"
        assert time.monotonic() - started < 3
        for sock in stalled:
            sock.settimeout(5)
            try:
                assert sock.recv(4096) == b""  # closed by the server after handshake_timeout
            except ConnectionResetError:
                pass
    finally:
        for sock in stalled:
            sock.close()
    # And after them, a full house of new clients is served.
    for _ in range(6):
        assert curl("--cacert", cert[0], "-o", "/dev/null", "-w", "%{http_code}", https_url(https)) == "200"


def test_plain_http_to_the_tls_port_is_dropped(https: RunningServer, cert: tuple[str, str]) -> None:
    with socket.create_connection(("127.0.0.1", https.port)) as sock:
        sock.settimeout(5)
        sock.sendall(b"GET / HTTP/1.1\r\nhost: localhost\r\n\r\n")
        try:
            while sock.recv(4096):
                pass
        except ConnectionResetError:
            pass
    assert curl("--cacert", cert[0], "-o", "/dev/null", "-w", "%{http_code}", https_url(https)) == "200"


@pytest.mark.parametrize("tls", [True, False], ids=["tls-handshake", "plain-first-bytes"])
def test_a_silent_new_connection_does_not_delay_shutdown(site: Path, cert: tuple[str, str], tls: bool) -> None:
    # Nothing is in flight on a connection that has not spoken HTTP yet (a TLS
    # handshake not finished, or the first bytes that tell HTTP/2 from HTTP/1.1):
    # shutdown closes it at once instead of waiting out its timeout.
    args = ("--tls-cert", cert[0], "--tls-key", cert[1]) if tls else ()
    config = "[tls]\nhandshake_timeout = 30.0\n[http]\nkeepalive_timeout = 30.0\n"
    with run_dynlan(site, *args, config=config) as server, \
            socket.create_connection(("127.0.0.1", server.port)) as silent:
        server.wait_accepted(silent)  # taken by the server (not waiting in the backlog): a connection it serves
        started = time.monotonic()
        server.proc.terminate()
        assert server.proc.wait(15) == 0
        assert time.monotonic() - started < 8
        silent.settimeout(5)
        assert silent.recv(100) == b""
