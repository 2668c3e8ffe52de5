"""Wren pages end to end: the demo site's Wren pages through `dynlan serve sites/demo` and httpx."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests._server import p99_beside_spinners, run_dynlan

pytestmark = pytest.mark.e2e

DEMO = Path(__file__).resolve().parents[2] / "sites" / "demo"


@pytest.fixture(scope="module")
def demo() -> Iterator[httpx.Client]:
    with run_dynlan(DEMO) as server, httpx.Client(base_url=server.url, timeout=10) as client:
        yield client


def visits(html: str) -> int:
    found = re.search(r"[Vv]isited (\d+) times", html)
    assert found is not None, html
    return int(found.group(1))


def test_wren_hello(demo: httpx.Client) -> None:
    r = demo.get("/wren/hello", params={"name": "httpx"})
    assert r.status_code == 200 and r.headers["content-type"] == "text/plain; charset=utf-8"
    assert re.fullmatch(r"Hello, httpx! \(Wren, request \d+\)\n", r.text), r.text


def test_wren_form_get_shows_the_form(demo: httpx.Client) -> None:
    r = demo.get("/wren/form")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert '<form method="post" action="/wren/form">' in r.text
    assert '<input name="name">' in r.text and '<input name="colour">' in r.text
    assert "<title>A form</title>" in r.text  # from the shared _lib/layout.wren


def test_wren_form_post_echoes_escaped_values(demo: httpx.Client) -> None:
    r = demo.post("/wren/form", data={"name": "<script>alert(1)</script>", "colour": 'te"al & co'})
    assert r.status_code == 200
    assert "<p>Thanks, &lt;script&gt;alert(1)&lt;/script&gt;. You like te&quot;al &amp; co.</p>" in r.text
    assert "<script>" not in r.text


def test_wren_counter_counts_visits_shared_with_lua_and_shows_motd(demo: httpx.Client) -> None:
    motd = (DEMO / "data" / "motd.txt").read_text().strip()
    first = demo.get("/wren/counter")
    second = demo.get("/wren/counter")
    assert first.status_code == second.status_code == 200
    assert visits(second.text) == visits(first.text) + 1
    assert visits(demo.get("/counter").text) == visits(first.text) + 2  # one cache key for every language
    for r in (first, second):
        assert f"Message of the day (from data/motd.txt, cached): {motd}" in r.text
        assert "Files in data/: motd.txt" in r.text


def test_wren_item_route_param_for_a_known_sku(demo: httpx.Client) -> None:
    r = demo.get("/wren/items/ab-12")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.json() == {"sku": "ab-12", "name": "Blue widget", "in_stock": True}


def test_wren_item_route_param_unknown_sku_is_404_and_escaped(demo: httpx.Client) -> None:
    r = demo.get("/wren/items/zz-99")
    assert r.status_code == 404 and "There is no item <b>zz-99</b>." in r.text
    r = demo.get("/wren/items/%3Cscript%3E")
    assert r.status_code == 404
    assert "There is no item <b>&lt;script&gt;</b>." in r.text and "<script>" not in r.text


def test_wren_layout_module_is_never_served(demo: httpx.Client) -> None:
    for path in ("/wren/_lib/layout", "/wren/_lib/layout.wren"):
        r = demo.get(path)
        assert r.status_code == 404 and "class Layout" not in r.text


def test_index_links_the_wren_pages(demo: httpx.Client) -> None:
    index = demo.get("/").text
    for path in ("/wren/hello", "/wren/form", "/wren/counter", "/wren/items/ab-12"):
        assert f'href="{path}"' in index
        assert demo.get(path).status_code == 200


def test_a_spinning_wren_page_does_not_hold_up_other_requests(tmp_path: Path) -> None:
    # The VM runs a page in slices and lets other requests in between; without that, each spinner
    # would keep the worker until its wall-time budget ran out.
    (tmp_path / "spin.wren").write_text("var x = 0\nwhile (true) x = x + 1\n")
    (tmp_path / "hello.wren").write_text('System.print("hi")\n')
    run = p99_beside_spinners(tmp_path, "/hello", "hi\n")
    # Each spun until its wall-time budget stopped it, in the middle of its loop.
    assert [r.status_code for r in run.spins] == [503, 503] and all("time budget" in r.text for r in run.spins)
    assert run.measured > run.enough_requests(), run
    assert run.p99 < run.latency_budget(), run


def test_lists_that_look_like_tagged_maps_stay_lists(tmp_path: Path) -> None:
    # Maps cross between Wren and the host as tagged lists; data that starts with a tag must not turn into a map.
    (tmp_path / "echo.wren").write_text(
        'var v = Request.json\n'
        'Response.json({"kind": v is Map ? "map" : "list", "back": v, "made": ["\\0map", ["k", "v"]], "tag": ["\\0list"]})\n')
    sent = ["\0map", ["a", 1], {"inner": ["\0list", "\0map"]}]
    with run_dynlan(tmp_path) as server:
        r = httpx.post(server.url + "/echo", json=sent)
    assert r.status_code == 200, r.text
    assert r.json() == {"kind": "list", "back": sent, "made": ["\0map", ["k", "v"]], "tag": ["\0list"]}


def test_dev_error_page_lists_every_compile_error_with_its_line(tmp_path: Path) -> None:
    (tmp_path / "broken.wren").write_text('System.print("ok")\nvar a = )\nvar b = 2\nclass {\n}\n')
    with run_dynlan(tmp_path, "--dev") as server:
        r = httpx.get(server.url + "/broken")
    assert r.status_code == 500
    text = html.unescape(re.sub(r"<[^>]+>", "", r.text))  # the excerpt is highlighted
    assert "Wren compile error: Error at ')': Expected expression. (and 2 more)" in text
    assert "broken.wren, line 4" in text and "Error at '{': Expect class name." in text
    assert "var a = )" in text  # the source excerpt


def test_printing_past_the_output_buffer_is_sent_while_the_page_runs(tmp_path: Path) -> None:
    # System.print cannot suspend its fiber, so a full buffer is sent when the page next pauses (here at the
    # end of a slice, in the loop): the response is streamed (chunked), not held whole until the page ends.
    (tmp_path / "big.wren").write_text(
        'var line = "x" * 1023\n'
        'for (i in 0...1100) System.print(line)\n'
        'var x = 0\n'
        'for (j in 0...300000) x = x + j\n'
        'System.print("end")\n')
    with run_dynlan(tmp_path) as server:
        r = httpx.get(server.url + "/big", timeout=30)
    assert r.status_code == 200
    assert r.headers.get("transfer-encoding") == "chunked" and "content-length" not in r.headers
    assert r.text == ("x" * 1023 + "\n") * 1100 + "end\n"
