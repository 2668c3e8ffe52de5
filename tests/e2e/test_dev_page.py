"""The `--dev` error page of every runtime and of templates, looked at in headless Chromium.

One site holds a failing page per language (each failing in a `_lib` module or function it calls, under
a route parameter); Chromium loads each page, the DOM is checked and a screenshot is taken. The same
site without `--dev` answers with nothing of it, and the log keeps the whole trace.
"""

from __future__ import annotations

import html
import re
import shutil
import struct
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests._server import RunningServer, run_dynlan

pytestmark = pytest.mark.e2e

FILES = {
    "_lib/helpers.lua": "local M = {}\n\nfunction M.total(items)\n  local sum = 0\n"
                        "  for _, item in ipairs(items) do\n    sum = sum + item.price\n  end\n  return sum\nend\n\n"
                        "return M\n",
    "lua/[id].lua": 'local helpers = require("helpers")\n'
                    'local items = {{price = 2}, {price = nil}}\n'
                    'response.write("order " .. request.params.id)\n'
                    "print(helpers.total(items))\n",
    "wren/[id].wren": "class Cart {\n  construct new(items) { _items = items }\n"
                      "  total { _items.reduce(0) {|sum, item| sum + item.price } }\n}\n"
                      'Response.write("order %(Request.params["id"])")\n'
                      "System.print(Cart.new([1, 2]).total)\n",
    "py/[id].py": "def total(items):\n    return sum(item['price'] for item in items)\n\n\n"
                  "def handle(request, response):\n    response.write('order ' + request.params['id'])\n"
                  "    response.write(str(total([{'price': 2}, {}])))\n",
    "php/[id].php": "<?php\nfunction total(array $items): int {\n"
                    "    if (count($items) < 3) {\n"
                    "        throw new InvalidArgumentException('a cart needs three items');\n    }\n"
                    "    return array_sum($items);\n}\n"
                    "echo 'order ' . dynlan_param('id');\necho total([1, 2]);\n",
    "count.wren": "var x = 0\nfor (i in 1..30000) x = x + i\nSystem.print(\"a\" * 3000)\nFiber.abort(\"stop here\")\n",
    "spin.lua": "local x = 0\nfor i = 1, 300000 do x = x + i end\nresponse.write(string.rep('a', 3000))\n"
                "error('stop here')\n",
    "tpl.jinja": "<h1>{{ request.path }}</h1>\n<ul>\n{% for item in items %}\n<li>{{ item }}</li>\n{% endfor }\n</ul>\n",
}


@dataclass(frozen=True)
class Case:
    path: str
    kind: str
    message: str
    frames: list[str]
    """`file, line N`, innermost first."""
    failing_line: str


CASES = {
    "lua": Case("/lua/42?color=blue&size=XL", "Lua error", "attempt to perform arithmetic on a nil value (field 'price')",
                ["_lib/helpers.lua, line 6", "lua/[id].lua, line 4"], "sum = sum + item.price"),
    "wren": Case("/wren/42?color=blue&size=XL", "Wren runtime error", "Num does not implement 'price'.",
                 ["wren/[id].wren, line 3", "wren/[id].wren, line 3", "wren/[id].wren, line 6"],
                 "total { _items.reduce(0) {|sum, item| sum + item.price } }"),
    "python": Case("/py/42?color=blue&size=XL", "KeyError", "'price'",
                   ["py/[id].py, line 2", "py/[id].py, line 2", "py/[id].py, line 7"],
                   "return sum(item['price'] for item in items)"),
    "php": Case("/php/42?color=blue&size=XL", "InvalidArgumentException", "a cart needs three items",
                ["php/[id].php, line 4", "php/[id].php, line 9"],
                "throw new InvalidArgumentException('a cart needs three items');"),
    "template": Case("/tpl?color=blue&size=XL", "Template error", "unexpected '}'",
                     ["tpl.jinja, line 5"], "{% endfor }"),
}
HOST_INTERNALS = ("xpcall", "_sandbox.lua", "[C]", "<python>", "dynlan/", "runtimes/", "site-packages", "[string")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("devpage") / "shop"
    for name, text in FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


@pytest.fixture(scope="module")
def dev(site: Path) -> Iterator[RunningServer]:
    with run_dynlan(site, "--dev") as server:
        yield server


def chromium(url: str, screenshot: Path) -> str:
    """The DOM Chromium built from `url`, and its screenshot at `screenshot`."""
    browser = shutil.which("chromium")
    assert browser is not None, "chromium is not installed (apt-get install chromium)"
    profile = tempfile.mkdtemp(prefix="dynlan-chromium-")
    try:
        out = subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
             "--disable-extensions", "--disable-background-networking", "--hide-scrollbars",
             f"--user-data-dir={profile}", "--window-size=1200,1000", f"--screenshot={screenshot}",
             "--dump-dom", url],
            capture_output=True, text=True, timeout=90,
        )
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    assert out.returncode == 0 and "<html" in out.stdout, out.stderr[-2000:]
    return out.stdout


def text_of(dom: str, sep: str = " ") -> str:
    """The text of `dom` (its body, if it has one), runs of white space made one space."""
    body = re.sub(r"<script.*?</script>", "", dom.split("<body>", 1)[-1], flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", sep, body)).split())


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.mark.parametrize("language", CASES)
def test_dev_page_in_chromium(dev: RunningServer, site: Path, language: str,
                              tmp_path_factory: pytest.TempPathFactory) -> None:
    case = CASES[language]
    shot = tmp_path_factory.mktemp("screenshots") / f"dev-error-{language}.png"
    dom = chromium(dev.url + case.path, shot)
    print(f"screenshot: {shot}")
    # The screenshot is the styled page: full width, and far from blank (a bare page compresses to a few KB).
    assert png_size(shot) == (1200, 1000)
    assert shot.stat().st_size > 40_000, shot.stat().st_size
    # Self-contained: its styling inline, nothing fetched; the one script is live reload's (--dev, a page load).
    assert "<style>" in dom and "http://" not in dom.split("<body>")[0]
    assert re.findall(r"<script[^>]*>", dom) == ['<script data-dynlan-live-reload="">'], dom[-1000:]
    heading = re.search(r'<h1 id="error">(.*?)</h1>', dom, re.S)
    assert heading is not None, dom[:2000]
    assert text_of(heading.group(1), "").strip() == f"{case.kind}: {case.message}"
    text = text_of(dom)
    outside_excerpts = text_of(re.sub(r"<table class=\"?src\"?>.*?</table>", "", dom, flags=re.S))
    assert outside_excerpts.count(case.message) == 1, text  # the error once, and its kind once
    assert outside_excerpts.count(case.kind) == 1, text
    # The page's own frames, innermost first; nothing of the host or the runtime, no absolute path.
    frames = [text_of(f).strip() for f in re.findall(r'<span class="file">(.*?)</span>', dom)]
    assert frames == case.frames, frames
    for internal in HOST_INTERNALS:
        assert internal not in text, f"{internal!r} on the page:\n{text}"
    assert str(site) not in dom
    # The failing line is marked in the first excerpt, with its number.
    first = dom.split('<section class="frame first">', 1)[1].split("</section>", 1)[0]
    marked = re.search(r'<tr class="?hit"?><td class="?ln"?>(\d+)</td><td>(.*?)</td></tr>', first)
    assert marked is not None, first
    assert marked.group(1) == case.frames[0].rsplit(" ", 1)[1]
    assert text_of(marked.group(2), "").strip() == case.failing_line
    assert '<span class="tk">' in first  # highlighted
    # The request: query, route parameter, the budgets, the request id.
    for part in ("request", "query", "params", "budget", "headers"):
        assert f'id="{part}"' in dom
    query = text_of(dom.split('id="query"', 1)[1].split("</table>", 1)[0])
    assert "color" in query and "blue" in query and "XL" in query
    if language != "template":
        params = text_of(dom.split('id="params"', 1)[1].split("</table>", 1)[0])
        assert "id" in params and "42" in params
    budget = text_of(dom.split('id="budget"', 1)[1].split("</table>", 1)[0])
    for name in ("time", "instructions", "memory", "output"):
        assert name in budget
    assert re.search(r"time \d+\.\d ms of 10 s", budget), budget
    request_id = re.search(r'<span id="request-id">request id (\w+)</span>', dom)
    assert request_id is not None and request_id.group(1) in dev.log()


def test_dev_page_masks_cookies_and_credentials(dev: RunningServer) -> None:
    r = httpx.get(dev.url + "/py/7", headers={"cookie": "sid=s3cr3t-cookie; theme=dark",
                                              "authorization": "Bearer s3cr3t-token", "x-trace": "visible"})
    assert r.status_code == 500
    assert "s3cr3t" not in r.text
    text = text_of(r.text)
    assert "sid=••••; theme=••••" in text
    assert "Bearer ••••" in text and "visible" in text


def test_wren_budget_used_is_counted(dev: RunningServer) -> None:
    r = httpx.get(dev.url + "/count")
    assert r.status_code == 500, r.text[-2000:]
    budget = text_of(r.text.split('id="budget"', 1)[1].split("</table>", 1)[0])
    instructions = re.search(r"instructions ([\d,]+) of", budget)
    assert instructions is not None and int(instructions.group(1).replace(",", "")) > 30_000, budget
    assert "output 2.9 KiB" in budget, budget
    # The 3000-character string at least (the VM's heap grew by it while the page ran).
    memory = re.search(r"memory (\d+(?:\.\d)?) (B|KiB|MiB) of 64\.0 MiB", budget)
    assert memory is not None and float(memory.group(1)) * {"B": 1, "KiB": 1024, "MiB": 1 << 20}[memory.group(2)] \
        >= 3000, budget


def test_php_budget_used_is_counted(dev: RunningServer) -> None:
    r = httpx.get(dev.url + "/php/42", timeout=30)
    assert r.status_code == 500
    budget = text_of(r.text.split('id="budget"', 1)[1].split("</table>", 1)[0])
    # PHP's own peak (memory_get_peak_usage), reported by the prelude after the page: some KiB at least.
    memory = re.search(r"memory (\d+(?:\.\d)?) (KiB|MiB) of 64\.0 MiB", budget)
    assert memory is not None, budget


def test_lua_budget_used_is_counted(dev: RunningServer) -> None:
    r = httpx.get(dev.url + "/spin")
    assert r.status_code == 500
    budget = text_of(r.text.split('id="budget"', 1)[1].split("</table>", 1)[0])
    instructions = re.search(r"instructions at least ([\d,]+) of", budget)
    assert instructions is not None and int(instructions.group(1).replace(",", "")) > 300_000, budget
    assert "output 2.9 KiB" in budget, budget
    assert re.search(r"memory \d+(\.\d)? (B|KiB|MiB) of 64\.0 MiB", budget), budget


def test_without_dev_nothing_leaves_the_server(site: Path) -> None:
    with run_dynlan(site) as server, httpx.Client(base_url=server.url) as c:
        for case in CASES.values():
            r = c.get(case.path)
            assert r.status_code == 500, (case.path, r.status_code)
            assert case.message not in html.unescape(r.text) and case.failing_line not in html.unescape(r.text)
            assert case.frames[0].split(",")[0] not in r.text and "color" not in r.text
        log = server.log()
    # The log has it all, the runtime's own frames too.
    assert "attempt to perform arithmetic on a nil value (field 'price')" in log and "xpcall" in log
    assert "InvalidArgumentException" in log and "KeyError" in log
