"""Lua pages end to end: the demo site with curl, reloading, and a spinning page beside a hello page."""

from __future__ import annotations

import html
import os
import re
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests._server import curl, p99_beside_spinners, run_dynlan

pytestmark = pytest.mark.e2e

DEMO = Path(__file__).resolve().parents[2] / "sites" / "demo"


def test_demo_lua_pages_with_curl() -> None:
    with run_dynlan(DEMO) as server:
        assert curl(server.url + "/hello?name=curl") == "Hello, curl! (Lua)\n"
        form = curl(server.url + "/form")
        assert "<form" in form and 'name="colour"' in form
        posted = curl("-d", "name=<Ada>&colour=teal", server.url + "/form")
        assert "Thanks, &lt;Ada&gt;. You like teal." in posted
        first = curl(server.url + "/counter")
        second = curl(server.url + "/counter")
        assert "visited 1 times" in first and "visited 2 times" in second
        assert "Pages in four languages" in second and "motd.txt" in second
        assert "Profile of user <b>42</b>" in curl(server.url + "/users/42")
        assert curl("-o", "/dev/null", "-w", "%{http_code}", server.url + "/users/abc") == "404"
        assert curl("-o", "/dev/null", "-w", "%{http_code}", server.url + "/_lib/layout.lua") == "404"
        index = curl(server.url + "/")
        assert "DynLan" in index


def test_editing_a_page_or_module_shows_without_restart(tmp_path: Path) -> None:
    (tmp_path / "_lib").mkdir()
    page = tmp_path / "page.lua"
    module = tmp_path / "_lib" / "words.lua"
    page.write_text('local w = require("words")\nprint("v1 " .. w.word)\n')
    module.write_text('return {word = "alpha"}\n')
    with run_dynlan(tmp_path) as server:
        assert httpx.get(server.url + "/page").text == "v1 alpha\n"
        page.write_text('local w = require("words")\nprint("v2 " .. w.word)\n')
        os.utime(page, ns=(time.time_ns(), time.time_ns() + 10_000_000))
        assert httpx.get(server.url + "/page").text == "v2 alpha\n"
        module.write_text('return {word = "beta!"}\n')
        os.utime(module, ns=(time.time_ns(), time.time_ns() + 20_000_000))
        assert httpx.get(server.url + "/page").text == "v2 beta!\n"
        # A page added while serving answers too. A URL no page answered makes the server look again (at most
        # once a second): ask until it has.
        (tmp_path / "later.lua").write_text('print("added later")\n')
        deadline = time.monotonic() + 30
        while (later := httpx.get(server.url + "/later", timeout=30)).status_code == 404:
            assert time.monotonic() < deadline, "the page added while serving was never found"
            time.sleep(0.1)
        assert later.text == "added later\n"


def test_syntax_error_lists_file_and_line_in_dev(tmp_path: Path) -> None:
    (tmp_path / "broken.lua").write_text('print("ok")\nlocal x = = 2\n')
    with run_dynlan(tmp_path, "--dev") as server:
        r = httpx.get(server.url + "/broken")
        assert r.status_code == 500
        shown = html.unescape(re.sub(r"<[^>]+>", "", r.text))  # the excerpt is highlighted
        assert "broken.lua, line 2" in shown and "local x = = 2" in shown


def test_spinning_page_does_not_stall_hello(tmp_path: Path) -> None:
    (tmp_path / "hello.lua").write_text('print("hello")\n')
    (tmp_path / "spin.lua").write_text("local x = 0\nwhile true do x = x + 1 end\n")
    run = p99_beside_spinners(tmp_path, "/hello", "hello\n")
    assert [r.status_code for r in run.spins] == [503, 503]  # each spun for its whole budget, then was stopped
    assert run.measured > run.enough_requests(), run
    assert run.p99 < run.latency_budget(), run


def test_page_source_is_never_served(tmp_path: Path) -> None:
    (tmp_path / "secret.lua").write_text('local password = "hunter2"\nprint("ran")\n')
    (tmp_path / "users").mkdir()
    (tmp_path / "users" / "[id].lua").write_text('print("user")\n')
    with run_dynlan(tmp_path) as server:
        r = httpx.get(server.url + "/secret.lua")
        assert r.status_code == 200 and r.text == "ran\n" and "hunter2" not in r.text
        r = httpx.get(server.url + "/users/%5Bid%5D.lua")
        assert "print" not in r.text


def _hello_latencies_during(site: Path, attack: str, config: str) -> tuple[list[float], httpx.Response]:
    """Time `/hello` one request after another, from before `attack` is asked until after it answered; the
    latencies of the hellos whose time overlapped the attack's, and the attack's response. (The hellos run first:
    an attack the shared VM cuts short, in a tenth of a second, could otherwise be over before the first hello.)"""
    with run_dynlan(site, "--no-access-log", config=config) as server:
        with httpx.Client(base_url=server.url) as c:
            for _ in range(20):
                assert c.get("/hello").text == "hello\n"  # warm up
        spans: list[tuple[float, float]] = []
        failures: list[BaseException] = []
        stop = threading.Event()
        timed = threading.Condition()

        def hellos() -> None:
            try:
                with httpx.Client(base_url=server.url, timeout=10) as c:
                    while not stop.is_set():
                        started = time.perf_counter()
                        r = c.get("/hello")
                        with timed:
                            spans.append((started, time.perf_counter()))
                            timed.notify_all()
                        assert r.status_code == 200 and r.text == "hello\n"
            except BaseException as exc:  # noqa: BLE001 - reported by the test's own thread
                with timed:
                    failures.append(exc)
                    timed.notify_all()

        thread = threading.Thread(target=hellos)
        thread.start()
        with timed:
            timed.wait_for(lambda: len(spans) >= 3 or bool(failures), timeout=20)
        with httpx.Client(base_url=server.url, timeout=30) as c:
            began = time.perf_counter()
            answer = c.get(attack)
            ended = time.perf_counter()
        with timed:
            # One hello after the attack: every one in its time has been timed.
            timed.wait_for(lambda: any(start > ended for start, _ in spans) or bool(failures), timeout=20)
        stop.set()
        thread.join(30)
    if failures:
        raise failures[0]
    return [end - start for start, end in spans if start < ended and end > began], answer


ATTACKS = {
    # A side effect first: the page cannot be moved to a thread VM, so the shared VM must end it.
    "spin_after_write": "cache.set('k', 1)\nlocal x = 0\nwhile true do x = x + 1 end\n",
    # Each comparison reads 16 MiB in one VM instruction: the hook must come before 10,000 of them.
    "compare_large": 'local a, b = "x", "x"\nfor i = 1, 24 do a = a .. a; b = b .. b end\n'
                     "while true do local _ = a < b end\n",
    "compare_after_write": "cache.set('k', 1)\nlocal a = string.rep('x', 2^24)\nlocal b = string.rep('x', 2^24)\n"
                           "while true do local _ = a == b end\n",
    # Lua's C matcher would backtrack for minutes.
    "backtrack": 'print(string.find(string.rep("a", 100), ".-.-.-.-.-b"))\n',
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_hello_answers_while_a_page_attacks_the_shared_vm(tmp_path: Path, attack: str) -> None:
    (tmp_path / "hello.lua").write_text('print("hello")\n')
    (tmp_path / f"{attack}.lua").write_text(ATTACKS[attack])
    config = "[limits]\nwall_time = 3.0\ninstructions = 100000000000\nmemory = 100000000\n"
    latencies, answer = _hello_latencies_during(tmp_path, f"/{attack}", config)
    assert answer.status_code in (500, 503), answer.text[:300]
    assert latencies, "no hello request was made while the attack ran"
    worst = max(latencies)
    print(f"{attack}: {len(latencies)} hello requests, worst {worst * 1000:.0f} ms")
    assert worst < 1.0, f"hello took {worst:.2f} s while {attack} ran"


def test_coroutines_with_host_calls_over_http(tmp_path: Path) -> None:
    (tmp_path / "co.lua").write_text(
        "local co = coroutine.wrap(function()\n"
        "  cache.incr('visits')\n"
        "  coroutine.yield(request.query.who .. ' ' .. tostring(cache.get('visits')))\n"
        "  response.header('x-co', 'yes')\n"
        "end)\n"
        "print(co())\nco()\n")
    with run_dynlan(tmp_path) as server:
        first = httpx.get(server.url + "/co", params={"who": "ada"})
        second = httpx.get(server.url + "/co", params={"who": "bob"})
    assert (first.status_code, first.text, first.headers.get("x-co")) == (200, "ada 1\n", "yes")
    assert second.text == "bob 2\n"
