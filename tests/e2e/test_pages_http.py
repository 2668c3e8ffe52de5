"""What pages in every language answer the same way, through real requests: a request body that is
not JSON, a spent wall-time budget, a 304 with the Vary of its 200."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests._server import RunningServer, run_dynlan

pytestmark = pytest.mark.e2e

PAGES = {
    # request.json() in each language's spelling (an async Python handle reads the body first).
    "json_lua.lua": "local v = request.json()\nprint(v.a)\n",
    "json_wren.wren": "var v = Request.json\nSystem.print(v[\"a\"])\n",
    "json_py.py": "def handle(request, response):\n    response.write(str(request.json()['a']))\n",
    "json_async.py": ("async def handle(request, response):\n    await request.body()\n"
                      "    response.write(str(request.json()['a']))\n"),
    # A page that outlives its wall-time budget, waiting rather than computing.
    "late_lua.lua": "sleep(30)\nprint('late')\n",
    "late_wren.wren": "Host.sleep(30)\nSystem.print(\"late\")\n",
    "late_py.py": "import trio\n\n\nasync def handle(request, response):\n    await trio.sleep(30)\n    response.write('late')\n",
    "late_php.php": "<?php\nwhile (true) { usleep(10000); }\n",
    # A page answering a conditional request itself.
    "fresh_lua.lua": 'response.status = 304\nresponse.headers["etag"] = \'"v1"\'\n',
    "fresh_php.php": "<?php\nheader('ETag: \"v1\"');\nhttp_response_code(304);\n",
    "hello_php.php": "<?php\necho str_repeat(\"hello from php\\n\", 100);\n",
    "hello_lua.lua": "print(string.rep('hello from lua\\n', 100))\n",
}

CONFIG = """
[limits]
wall_time = 1.0
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    root = tmp_path_factory.mktemp("pages")
    for name, source in PAGES.items():
        (root / name).write_text(source)
    with run_dynlan(root, config=CONFIG) as s:
        yield s


@pytest.mark.parametrize("page", ["json_lua", "json_wren", "json_py", "json_async"])
def test_a_body_that_is_not_json_is_400_in_every_language(server: RunningServer, page: str) -> None:
    ok = httpx.post(f"{server.url}/{page}", content=b'{"a": 7}', headers={"content-type": "application/json"})
    assert ok.status_code == 200 and ok.text.strip() == "7"
    bad = httpx.post(f"{server.url}/{page}", content=b"{not json", headers={"content-type": "application/json"})
    assert bad.status_code == 400, bad.text
    assert "not valid JSON" in bad.text or "Bad Request" in bad.text


@pytest.mark.parametrize("page", ["late_lua", "late_wren", "late_py", "late_php"])
def test_a_spent_time_budget_is_503_in_every_language(server: RunningServer, page: str) -> None:
    started = time.monotonic()
    r = httpx.get(f"{server.url}/{page}", timeout=60)
    assert r.status_code == 503, r.text
    assert "budget" in r.text
    assert time.monotonic() - started < 25  # ended by its 1 s budget, not by the page


@pytest.mark.parametrize("page", ["fresh_lua", "fresh_php"])
def test_a_304_from_a_page_carries_the_vary_of_its_200(server: RunningServer, page: str) -> None:
    # RFC 9110 §15.4.5: a 304 has the fields its 200 would have had, Vary among them.
    full = httpx.get(f"{server.url}/hello_{page.rpartition('_')[2]}", headers={"accept-encoding": "gzip"})
    assert full.status_code == 200
    assert "accept-encoding" in full.headers["vary"].lower()
    r = httpx.get(f"{server.url}/{page}", headers={"accept-encoding": "gzip", "if-none-match": '"v1"'})
    assert r.status_code == 304 and r.content == b""
    assert r.headers["etag"] == '"v1"'
    assert "accept-encoding" in r.headers["vary"].lower()
