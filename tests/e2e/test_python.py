"""Python pages end to end: the demo site with curl, and reloading."""

from __future__ import annotations

import html
import json
import os
import re
import time
from pathlib import Path

import httpx
import pytest

from tests._server import curl, run_dynlan

pytestmark = pytest.mark.e2e

DEMO = Path(__file__).resolve().parents[2] / "sites" / "demo"



def test_demo_python_pages_with_curl() -> None:
    with run_dynlan(DEMO) as server:
        assert curl(server.url + "/py/hello?name=curl") == "Hello, curl! (Python)\n"
        assert "<form" in curl(server.url + "/py/form")
        assert "Thanks, &lt;Ada&gt;. You like teal." in curl("-d", "name=<Ada>&colour=teal", server.url + "/py/form")
        assert "visited 1 times" in curl(server.url + "/counter")
        assert "Visited 2 times (shared with /counter)" in curl(server.url + "/py/counter")
        assert json.loads(curl(server.url + "/py/items/ab-12")) == {"sku": "ab-12", "in_stock": True}


def test_editing_a_page_or_lib_module_shows_without_restart(tmp_path: Path) -> None:
    (tmp_path / "_lib").mkdir()
    page = tmp_path / "page.py"
    module = tmp_path / "_lib" / "words.py"
    page.write_text("from _lib import words\n\ndef handle(request, response):\n    response.write('v1 ' + words.WORD)\n")
    module.write_text("WORD = 'alpha'\n")
    with run_dynlan(tmp_path) as server:
        assert httpx.get(server.url + "/page").text == "v1 alpha"
        page.write_text("from _lib import words\n\ndef handle(request, response):\n    response.write('v2 ' + words.WORD)\n")
        os.utime(page, ns=(time.time_ns(), time.time_ns() + 10_000_000))
        assert httpx.get(server.url + "/page").text == "v2 alpha"
        module.write_text("WORD = 'beta!'\n")
        os.utime(module, ns=(time.time_ns(), time.time_ns() + 20_000_000))
        assert httpx.get(server.url + "/page").text == "v2 beta!"


def test_syntax_error_shows_file_and_line_in_dev(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("def handle(request, response):\n    x = = 1\n")
    with run_dynlan(tmp_path, "--dev") as server:
        r = httpx.get(server.url + "/broken")
        shown = html.unescape(re.sub(r"<[^>]+>", "", r.text))  # the excerpt is highlighted
        assert r.status_code == 500 and "broken.py" in shown and "x = = 1" in shown


def test_overrunning_sync_page_is_reported(tmp_path: Path) -> None:
    (tmp_path / "slow.py").write_text("import time\n\ndef handle(request, response):\n    time.sleep(1.5)\n    response.write('late')\n")
    with run_dynlan(tmp_path, config="[limits]\nwall_time = 1.0\n") as server:
        r = httpx.get(server.url + "/slow", timeout=10)
        assert r.status_code == 200 and r.text == "late"  # synchronous code cannot be interrupted in-process ...
        deadline = time.monotonic() + 30
        while "past its time budget" not in server.log() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "past its time budget" in server.log()  # ... but it is reported
