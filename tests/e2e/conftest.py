from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests._server import RunningServer, run_dynlan

SITE_FILES = {
    "index.html": b"<!doctype html><title>home</title><h1>home</h1>\n",
    "about.html": b"<h1>about</h1>\n",
    "style.css": b"body { color: red }\n" * 50,
    "robots.txt": b"User-agent: *\n",
    ".secret": b"do not serve\n",
    "_lib/util.lua": b"return {}\n",
    "dynlan.toml": b"[static]\nlisting = false\n",
    "docs/index.html": b"<h1>docs</h1>\n",
    "docs/page.html": b"<h1>docs page</h1>\n",
    "errors/404.html": b"<h1>custom not found</h1>\n",
    "slow.lua": b"sleep(tonumber(request.query.s or '1'))\nprint('finished')\n",
    "hello.lua": b"print('hello from lua')\n",
}


def make_site(root: Path) -> Path:
    for rel, data in SITE_FILES.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (root / "data.bin").write_bytes(bytes(range(256)) * 40)  # 10240 bytes
    outside = root.parent / "outside.txt"
    outside.write_bytes(b"outside the root\n")
    os.symlink(outside, root / "escape.txt")
    return root


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    base = tmp_path_factory.mktemp("e2e")
    root = make_site(base / "site")
    yield root
    shutil.rmtree(base, ignore_errors=True)


E2E_CONFIG = """
[http]
header_timeout = 2.0
keepalive_timeout = 5.0
max_body_size = 65536

[server]
grace_period = 5.0
"""


@pytest.fixture(scope="session")
def server(site: Path) -> Iterator[RunningServer]:
    with run_dynlan(site, config=E2E_CONFIG) as s:
        yield s
