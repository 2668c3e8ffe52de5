"""The `proxy` rule in front of the servers users put behind it: a real nginx and another dynlan, started by the
suite, reached through a front dynlan with real clients (httpx, h2load).

nginx is a test dependency (`make test` installs it, as the bench does): a missing nginx fails these tests.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests._server import RunningServer, free_port, run_dynlan, wait_port

pytestmark = pytest.mark.e2e

BACK_PAGE = """
response.headers["content-type"] = "text/plain"
print("client=" .. request.client)
print("xff=" .. (request.headers["x-forwarded-for"] or "-"))
print("via=" .. (request.headers["via"] or "-"))
print("host=" .. (request.headers["host"] or "-"))
print("proto=" .. (request.headers["x-forwarded-proto"] or "-"))
"""


class Peers:
    def __init__(self, front: RunningServer, files: Path, back: RunningServer) -> None:
        self.front = front
        self.files = files
        self.back = back


def nginx_config(tmp: Path, port: int, files: Path) -> Path:
    conf = tmp / "nginx.conf"
    conf.write_text(f"""user root;
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log;
events {{ worker_connections 256; }}
http {{
  include /etc/nginx/mime.types;
  access_log off;
  client_body_temp_path {tmp}/body; proxy_temp_path {tmp}/proxy; fastcgi_temp_path {tmp}/fcgi;
  uwsgi_temp_path {tmp}/uwsgi; scgi_temp_path {tmp}/scgi;
  keepalive_requests 100000;
  server {{
    listen 127.0.0.1:{port};
    root {files};
    location = /conn {{ default_type text/plain; return 200 "$connection $connection_requests"; }}
    location = /who {{ default_type text/plain; return 200 "$http_x_forwarded_for|$http_via|$host|$http_forwarded"; }}
  }}
}}
""")
    return conf


@pytest.fixture(scope="module")
def peers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peers]:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    assert Path(nginx).exists(), "nginx is not installed (make test installs it)"
    base = tmp_path_factory.mktemp("peers")
    files = base / "files"
    files.mkdir()
    (files / "4k.txt").write_bytes(b"n" * 4096)
    (files / "big.bin").write_bytes(bytes(range(256)) * 4096)  # 1 MiB
    back_site = base / "back"
    back_site.mkdir()
    (back_site / "who.lua").write_text(BACK_PAGE)
    front_site = base / "front"
    front_site.mkdir()
    (front_site / "index.html").write_text("front\n")
    ng_port = free_port()
    conf = nginx_config(base, ng_port, files)
    proc = subprocess.Popen([nginx, "-c", str(conf), "-p", str(base)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_port(ng_port, proc)
        # The back dynlan believes the front (it is on loopback): its pages see the client the front names.
        with run_dynlan(back_site, "--no-access-log",
                        config='[server]\ntrusted_proxies = ["127.0.0.1/32"]\n') as back:
            (front_site / "dynlan.toml").write_text(
                f'[[route]]\npath = "/ng/*"\nproxy = {{ upstreams = ["http://127.0.0.1:{ng_port}"], '
                f'strip_prefix = true }}\n\n'
                f'[[route]]\npath = "/dl/*"\nproxy = {{ upstreams = ["http://127.0.0.1:{back.port}"], '
                f'strip_prefix = true, host = "back.internal" }}\n')
            with run_dynlan(front_site, "--no-access-log", config='[outbound]\nallow = ["127.0.0.1:*"]\n') as front:
                yield Peers(front, files, back)
    finally:
        proc.terminate()
        proc.wait(30)


def test_nginx_files_pass_whole_with_their_validators_and_ranges(peers: Peers) -> None:
    with httpx.Client(base_url=peers.front.url, timeout=60) as c:
        r = c.get("/ng/big.bin")
        assert r.status_code == 200 and r.content == (peers.files / "big.bin").read_bytes()
        etag = r.headers["etag"]
        assert r.headers["via"] == "1.1 dynlan" and r.headers["server"].startswith("dynlan")
        assert c.get("/ng/big.bin", headers={"if-none-match": etag}).status_code == 304
        part = c.get("/ng/big.bin", headers={"range": "bytes=256-511"})
        assert part.status_code == 206 and part.content == bytes(range(256))
        assert part.headers["content-range"] == "bytes 256-511/1048576"
        head = c.head("/ng/4k.txt")
        assert head.status_code == 200 and head.headers["content-length"] == "4096" and head.content == b""
        assert c.get("/ng/missing").status_code == 404  # the upstream's own answer, passed on


def test_nginx_sees_the_forwarding_fields_and_one_kept_alive_connection(peers: Peers) -> None:
    with httpx.Client(base_url=peers.front.url, timeout=60) as c:
        xff, via, host, forwarded = c.get("/ng/who").text.split("|")
        assert (xff, via, host) == ("127.0.0.1", "1.1 dynlan", "127.0.0.1")
        assert forwarded.startswith("for=127.0.0.1;proto=http")
        # nginx numbers the requests of each connection: the proxy's pool carries them one after another.
        answers = [c.get("/ng/conn").text.split() for _ in range(5)]
    assert len({conn for conn, _ in answers}) == 1, answers
    assert [int(n) for _, n in answers] == sorted(int(n) for _, n in answers) and int(answers[-1][1]) >= 5


def test_nginx_under_load_through_the_proxy(peers: Peers) -> None:
    out = subprocess.run(["h2load", "--h1", "-n", "2000", "-c", "8", peers.front.url + "/ng/4k.txt"],
                         capture_output=True, text=True, timeout=180, check=True).stdout
    found = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded", out)
    assert found and found.group(4) == "2000", out[-800:]
    assert "status codes: 2000 2xx" in out, out[-800:]


def test_another_dynlan_behind_the_proxy(peers: Peers) -> None:
    with httpx.Client(base_url=peers.front.url, timeout=60) as c:
        r = c.get("/dl/who.lua", headers={"x-forwarded-for": "203.0.113.9"})
        assert r.status_code == 200, r.text
        seen = dict(line.split("=", 1) for line in r.text.splitlines())
        # The front dropped the client's own X-Forwarded-For (it does not trust it) and wrote its peer; the back
        # trusts the front, so its page sees that peer as the client.
        assert seen == {"client": "127.0.0.1", "xff": "127.0.0.1", "via": "1.1 dynlan", "host": "back.internal",
                        "proto": "http"}
        assert r.headers["via"] == "1.1 dynlan"
        # The back's error page comes through as its answer (the status and body are the back's).
        missing = c.get("/dl/nothing-here")
        assert missing.status_code == 404
        with httpx.Client(base_url=peers.front.url, http1=False, http2=True, timeout=60) as c2:
            r2 = c2.get("/dl/who.lua")
            assert r2.http_version == "HTTP/2" and r2.status_code == 200 and "via=2 dynlan" in r2.text
