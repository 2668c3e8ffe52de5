"""A site's `dynlan.toml` can only tighten the server's policy, through the real `dynlan serve`.

A site that tries to loosen it (a longer wall time, the Python sandbox off, a worker setting of a
runtime) stops the server at start-up with exit status 2 and one line naming the file and the key;
a site that tightens it gets what it asked for while its neighbour keeps the server's policy.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests._server import free_port, run_dynlan

pytestmark = pytest.mark.e2e

PID_PAGE = "import os\n\n\ndef handle(request, response):\n    response.write(str(os.getpid()))\n"
SPIN_PAGE = "def handle(request, response):\n    while True:\n        pass\n"
SANDBOXED = '[python]\nsandbox = "process"\n'


def make_sites(root: Path, site_toml: str) -> Path:
    sites = root / "sites"
    for name in ("a.test", "b.test"):
        (sites / name).mkdir(parents=True)
        (sites / name / "pid.py").write_text(PID_PAGE)
        (sites / name / "spin.py").write_text(SPIN_PAGE)
        (sites / name / "hello.lua").write_text('response.write("hello")\n')
    (sites / "a.test" / "dynlan.toml").write_text(site_toml)
    return sites


@pytest.mark.parametrize(
    ("site_toml", "message"),
    [
        ('[limits]\nwall_time = 600\n\n[python]\nsandbox = "none"\n',
         "limits.wall_time = 600 is above the server's 10; a site can only lower it"),
        ('[python]\nsandbox = "none"\n',
         "[python] sandbox = \"none\" is less strict than the server's \"process\"; a site can only tighten it"),
        ("[lua]\nthreads = 8\n", "[lua] threads is a server setting; set it in the server config"),
        ("[cache]\nmax_bytes = 1073741824\n", "[cache] is a server setting; set it in the server config (--config)"),
    ],
)
def test_a_site_that_loosens_the_policy_stops_the_server(tmp_path: Path, site_toml: str, message: str) -> None:
    sites = make_sites(tmp_path, site_toml)
    config = tmp_path / "server.toml"
    config.write_text(SANDBOXED)
    p = subprocess.run(
        [sys.executable, "-m", "dynlan", "serve", str(sites), "--port", str(free_port()), "--config", str(config)],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert p.returncode == 2, p.stderr
    assert p.stderr.strip() == f"dynlan: error: {sites / 'a.test' / 'dynlan.toml'}: {message}", p.stderr


def test_a_site_that_tightens_the_policy_gets_it_and_its_neighbour_does_not(tmp_path: Path) -> None:
    # The server runs Python in process with a 10 s budget; a.test asks for the sandbox and 1 s.
    sites = make_sites(tmp_path, SANDBOXED + "\n[limits]\nwall_time = 1\n")
    with run_dynlan(sites, config='[python]\nsandbox = "none"\n\n[limits]\nwall_time = 10\n') as server:
        worker = server.worker_pid()
        with httpx.Client(base_url=server.url, timeout=30) as client:
            a = client.get("/pid.py", headers={"Host": "a.test"})
            b = client.get("/pid.py", headers={"Host": "b.test"})
            assert a.status_code == 200 and b.status_code == 200, (a.text, b.text)
            # a.test's page ran in a process of its own; b.test's in the worker, as the server says.
            assert int(a.text) != worker and int(b.text) == worker
            started = time.monotonic()
            spin = client.get("/spin.py", headers={"Host": "a.test"})
            elapsed = time.monotonic() - started
            assert spin.status_code == 503, spin.text
            # Cut by the site's own 1 s budget, well before the server's 10 s.
            assert elapsed < 6, elapsed
            assert "time budget of 1 s" in server.log()
            assert client.get("/hello.lua", headers={"Host": "b.test"}).text == "hello"


def test_sites_share_a_cache_only_when_the_server_config_says_so(tmp_path: Path) -> None:
    sites = tmp_path / "sites"
    for name in ("a.test", "b.test", "c.test"):
        (sites / name).mkdir(parents=True)
        (sites / name / "put.lua").write_text('cache.set("basket", "' + name + '")\nresponse.write("ok")\n')
        (sites / name / "get.lua").write_text('response.write(tostring(cache.get("basket")))\n')
    with run_dynlan(sites, config='[cache.share]\nshop = ["a.test", "b.test"]\n') as server:
        def get(site: str, path: str) -> str:
            r = httpx.get(server.url + path, headers={"Host": site}, timeout=10)
            assert r.status_code == 200, r.text
            return r.text

        assert get("a.test", "/put.lua") == "ok"
        assert get("b.test", "/get.lua") == "a.test"
        assert get("c.test", "/get.lua") == "nil"
        assert get("c.test", "/put.lua") == "ok"
        assert get("a.test", "/get.lua") == "a.test"
        assert get("c.test", "/get.lua") == "c.test"
