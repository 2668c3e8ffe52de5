"""HTTP/2 and HTTP/3 are extras: without their packages the server serves HTTP/1.1 and says once why the others are off.

The server runs with an import blocker on its path (a `sitecustomize` that makes `import h2` and `import aioquic`
fail, in the supervisor and in every worker), as on a machine where the extras were not installed.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests._server import RunningServer, run_dynlan

pytestmark = pytest.mark.e2e

BLOCKER = '''
import importlib.abc
import sys

BLOCKED = ("h2", "aioquic")


class _Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, _Blocker())
'''


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    root = tmp_path_factory.mktemp("site")
    (root / "index.html").write_text("<p>one protocol</p>\n")
    (root / "hello.lua").write_text("print('hello')\n")
    blocker = tmp_path_factory.mktemp("blocker")
    (blocker / "sitecustomize.py").write_text(BLOCKER)
    with run_dynlan(root, "--tls", "self-signed", "--http3", "--workers", "2", "--no-access-log",
                    env={"PYTHONPATH": str(blocker)}) as s:
        yield s


def test_http1_is_served_and_alpn_offers_only_it(server: RunningServer) -> None:
    with httpx.Client(http2=True, verify=False, timeout=30) as client:
        for path, body in [("/", "<p>one protocol</p>\n"), ("/hello", "hello\n")]:
            r = client.get(f"https://127.0.0.1:{server.port}{path}")
            assert (r.status_code, r.http_version, r.text) == (200, "HTTP/1.1", body)
            assert "alt-svc" not in r.headers  # no HTTP/3 to advertise
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    context.set_alpn_protocols(["h2", "http/1.1"])
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as raw, \
            context.wrap_socket(raw, server_hostname="localhost") as tls:
        assert tls.selected_alpn_protocol() == "http/1.1"


def test_the_server_says_once_which_protocols_are_off_and_why(server: RunningServer) -> None:
    log = Path(server.log_path).read_text()
    h2_lines = [line for line in log.splitlines() if "HTTP/2 is off" in line]
    h3_lines = [line for line in log.splitlines() if "HTTP/3 is off" in line]
    assert len(h2_lines) == 1 and "No module named 'h2" in h2_lines[0] and "dynlan[http2]" in h2_lines[0]
    assert len(h3_lines) == 1 and "No module named 'aioquic" in h3_lines[0] and "dynlan[http3]" in h3_lines[0]
    assert "Traceback" not in log
