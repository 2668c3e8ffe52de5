"""The response cache through real requests: hits, variants, expiry, stale-on-error, purge (page and CLI)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from dynlan.server._control import send_to_server
from tests._server import RunningServer, run_dynlan

pytestmark = pytest.mark.e2e

PAGES = {
    # Each page counts its runs in the host cache, so a test can tell a hit from a run.
    "news.lua": """
local n = cache.incr("news.runs", 1)
response.cache(60, {tags = {"news"}, vary = {"accept-language"}})
response.headers["content-type"] = "text/html; charset=utf-8"
response.write("<p>news run " .. n .. " lang " .. (request.headers["accept-language"] or "-") .. "</p>")
response.write(string.rep("<p>padding that compresses well</p>", 100))
""",
    "short.lua": """
local n = cache.incr("short.runs", 1)
response.cache(1, {stale_if_error = 30})
if cache.get("short.fail") then error("the backend is down") end
response.write("short run " .. n)
""",
    "fail.lua": """
cache.set("short.fail", request.query.on == "1")
""",
    "slow.lua": """
local n = cache.incr("slow.runs", 1)
response.cache(1)
sleep(0.5)
response.write("slow run " .. n)
""",
    "headers.lua": """
response.headers["cache-control"] = "public, max-age=60"
response.headers["cache-tag"] = "by-header"
response.write("headers run " .. cache.incr("headers.runs", 1))
""",
    "private.lua": """
response.headers["cache-control"] = "private, max-age=60"
response.write("private run " .. cache.incr("private.runs", 1))
""",
    "cookie.lua": """
response.cache(60)
response.set_cookie("sid", "abc")
response.write("cookie run " .. cache.incr("cookie.runs", 1))
""",
    "error.lua": """
response.cache(60)
response.status = 503
response.write("error run " .. cache.incr("error.runs", 1))
""",
    "purge.lua": """
response.write("purged " .. cache.purge(request.query.tag and {tag = request.query.tag} or {path = request.query.path}))
""",
    "py.py": """
def handle(request, response):
    response.cache(60, tags=["py"])
    response.write("py run %d" % cache.incr("py.runs", 1))
""",
    "php.php": """<?php
dynlan_cache_response(60, ['tags' => ['php']]);
echo "php run " . dynlan_cache_incr('php.runs', 1);
""",
    "php-header.php": """<?php
header('Cache-Control: public, max-age=60');
echo "php-header run " . dynlan_cache_incr('php-header.runs', 1);
""",
    "kept.lua": """
response.cache(60, {tags = {"kept"}})
response.write("kept run " .. cache.incr("kept.runs", 1))
""",
    "blog/one.lua": 'response.cache(60)\nresponse.write("one " .. cache.incr("one.runs", 1))\n',
    "blog/two.lua": 'response.cache(60)\nresponse.write("two " .. cache.incr("two.runs", 1))\n',
}


def make_site(root: Path) -> Path:
    for rel, text in PAGES.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.lstrip("\n"))
    return root


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with run_dynlan(make_site(tmp_path_factory.mktemp("respcache") / "site"), "--no-access-log") as s:
        yield s


def get(server: RunningServer, path: str, **headers: str) -> httpx.Response:
    sent = {"accept-encoding": "identity", **{k.replace("_", "-"): v for k, v in headers.items()}}
    return httpx.get(server.url + path, headers=sent, timeout=20)


def dynlan_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dynlan", *args], capture_output=True, text=True, timeout=30)


def test_miss_then_hit(server: RunningServer) -> None:
    first = get(server, "/news")
    second = get(server, "/news")
    assert first.status_code == second.status_code == 200
    assert first.headers["x-cache"] == "MISS" and second.headers["x-cache"] == "HIT"
    assert second.text == first.text and "news run 1 " in first.text
    assert second.headers["etag"] == first.headers["etag"]
    assert int(second.headers["age"]) >= 0
    assert "hit" in second.headers["cache-status"]
    assert "accept-language" in second.headers["vary"].lower()


def stats(server: RunningServer) -> tuple[int, int]:
    """Kept answers written, and the response cache's hits (kept answers included)."""
    reply = send_to_server(server.port, {"op": "stats"})[0]
    return reply["replayed"], reply["responses"]["hits"]


def test_hits_are_kept_answers_with_their_age_until_a_purge(server: RunningServer) -> None:
    first = get(server, "/kept")
    stored = time.monotonic()
    assert first.headers["x-cache"] == "MISS" and first.text == "kept run 1"
    replayed, hits = stats(server)
    answers = 0
    # Over more than two seconds of Age: an answer is kept while its Age holds, then made again. The first is
    # kept late in its second of Age 0, so an answer kept for a second from then would carry an Age gone by.
    time.sleep(max(0.0, stored + 0.7 - time.monotonic()))
    while time.monotonic() < stored + 2.5 or stats(server)[0] == replayed:
        assert time.monotonic() < stored + 30, "no hit was answered with kept bytes"
        sent = time.monotonic()
        r = get(server, "/kept")
        answers += 1
        assert r.status_code == 200 and r.text == "kept run 1" and r.headers["x-cache"] == "HIT"
        assert r.headers["etag"] == first.headers["etag"]
        # The entry was made between `first` being sent and `stored`: its Age, asked between `sent` and now.
        assert int(sent - stored) <= int(r.headers["age"]) <= time.monotonic() - stored + 1
    now_replayed, now_hits = stats(server)
    assert now_replayed > replayed
    assert now_hits - hits == answers  # a kept answer is the cache's hit as the full path's is
    assert get(server, "/purge?tag=kept").text == "purged 1"
    after = get(server, "/kept")  # at once, not a second later
    assert after.headers["x-cache"] == "MISS" and after.text == "kept run 2"


def test_a_varying_entry_is_not_kept(server: RunningServer) -> None:
    get(server, "/news", accept_language="de")
    replayed = stats(server)[0]
    for _ in range(5):
        assert get(server, "/news", accept_language="de").headers["x-cache"] == "HIT"
    assert stats(server)[0] == replayed


def test_vary_header_selects_the_variant(server: RunningServer) -> None:
    fr = get(server, "/news", accept_language="fr")
    assert "lang fr" in fr.text
    again = get(server, "/news", accept_language="fr")
    assert again.headers["x-cache"] == "HIT" and again.text == fr.text
    assert "lang -" in get(server, "/news").text


@pytest.mark.parametrize("coding", ["br", "zstd", "gzip"])
def test_compressed_variants_decode_to_the_same_bytes(server: RunningServer, coding: str) -> None:
    identity = get(server, "/news")
    encoded = httpx.get(server.url + "/news", headers={"accept-encoding": coding}, timeout=20)
    assert encoded.headers["content-encoding"] == coding
    assert int(encoded.headers["content-length"]) < len(identity.content)
    assert encoded.content == identity.content  # httpx decodes it
    assert encoded.headers["etag"] != identity.headers["etag"]
    assert encoded.headers["x-cache"] == "HIT"


def test_conditional_request_on_a_hit(server: RunningServer) -> None:
    etag = get(server, "/news").headers["etag"]
    r = get(server, "/news", if_none_match=etag)
    assert r.status_code == 304 and r.content == b""
    assert r.headers["etag"] == etag


def test_head_is_answered_from_the_cache(server: RunningServer) -> None:
    get(server, "/news")
    r = httpx.head(server.url + "/news", headers={"accept-encoding": "identity"})
    assert r.headers["x-cache"] == "HIT" and r.content == b""
    assert int(r.headers["content-length"]) == len(get(server, "/news").content)


def test_post_runs_the_page(server: RunningServer) -> None:
    get(server, "/headers")
    r = httpx.post(server.url + "/headers", content=b"x")
    assert "x-cache" not in r.headers


def test_expiry(server: RunningServer) -> None:
    get(server, "/fail?on=0")
    # A miss and the hit after it, both within the entry's second of life: asked again if this test was held up
    # for as long (a busy machine), since a hit is then no longer promised.
    deadline = time.monotonic() + 30
    while True:
        sent = time.monotonic()
        first = get(server, "/short")
        second = get(server, "/short")
        if first.headers["x-cache"] == "MISS" and time.monotonic() - sent < 1.0:
            break
        assert time.monotonic() < deadline, "never a miss and a hit within a second"
    assert second.headers["x-cache"] == "HIT" and second.text == first.text
    time.sleep(1.3)  # the time under test: past the entry's 1 s
    after = get(server, "/short")
    assert after.headers["x-cache"] == "MISS" and after.text != first.text


def test_stale_response_stands_in_for_a_failing_page(server: RunningServer) -> None:
    get(server, "/fail?on=0")
    good = get(server, "/short")
    try:
        get(server, "/fail?on=1")
        time.sleep(1.3)
        r = get(server, "/short")
        assert r.status_code == 200 and r.headers["x-cache"] == "STALE"
        assert r.text == good.text
        assert "the backend is down" in server.log()
    finally:
        get(server, "/fail?on=0")


def test_concurrent_misses_run_the_page_once(server: RunningServer) -> None:
    get(server, "/slow")
    time.sleep(1.2)  # expired: the next requests all miss at once
    results: list[str] = []

    def fetch() -> None:
        results.append(get(server, "/slow").text)

    threads = [threading.Thread(target=fetch) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(results) == 6 and len(set(results)) == 1, results


def test_cache_control_header_opts_in_and_tags(server: RunningServer) -> None:
    first = get(server, "/headers")
    assert get(server, "/headers").headers["x-cache"] == "HIT"
    assert "cache-tag" not in first.headers  # kept for purges, not sent
    assert get(server, "/purge?tag=by-header").text == "purged 1"
    assert get(server, "/headers").headers["x-cache"] == "MISS"


@pytest.mark.parametrize("path", ["/private", "/cookie", "/error"])
def test_not_cached(server: RunningServer, path: str) -> None:
    a, b = get(server, path), get(server, path)
    assert "x-cache" not in b.headers
    assert a.text != b.text


def test_python_and_php_pages(server: RunningServer) -> None:
    for path in ("/py", "/php", "/php-header"):
        first = get(server, path)
        second = get(server, path)
        assert first.status_code == 200, first.text
        assert (first.headers["x-cache"], second.headers["x-cache"]) == ("MISS", "HIT"), path
        assert first.text == second.text and " run 1" in first.text
    assert get(server, "/purge?tag=php").text == "purged 1"
    assert get(server, "/php").headers["x-cache"] == "MISS"


def test_purge_by_path_and_prefix_from_the_cli(server: RunningServer) -> None:
    for path in ("/blog/one", "/blog/two", "/py"):
        get(server, path)
        assert get(server, path).headers["x-cache"] == "HIT"
    out = dynlan_cli("cache", "purge", "--port", str(server.port), "/blog/*")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "purged 2 cached responses in 1 worker"
    assert get(server, "/blog/one").headers["x-cache"] == "MISS"
    assert get(server, "/py").headers["x-cache"] == "HIT"
    out = dynlan_cli("cache", "purge", "--port", str(server.port), "--tag", "py")
    assert out.stdout.strip() == "purged 1 cached response in 1 worker"
    stats = dynlan_cli("cache", "stats", "--port", str(server.port))
    assert stats.returncode == 0 and "entries=" in stats.stdout


def test_cli_errors() -> None:
    out = dynlan_cli("cache", "purge", "--port", "9", "/x")
    assert out.returncode == 2 and "no running dynlan server found on port 9" in out.stderr
    out = dynlan_cli("cache", "purge", "--port", "9")
    assert out.returncode == 2 and "needs PATH, --tag TAG or --all" in out.stderr
    out = dynlan_cli("cache", "purge", "--port", "9", "relative")
    assert out.returncode == 2 and "starts with '/'" in out.stderr


def test_purges_reach_every_worker(tmp_path: Path) -> None:
    site = make_site(tmp_path / "site")

    def entries(port: int) -> list[int]:
        out = dynlan_cli("cache", "stats", "--port", str(port))
        assert out.returncode == 0, out.stderr
        return [int(part.split("=")[1]) for part in out.stdout.split() if part.startswith("entries=")]

    with run_dynlan(site, "--workers", "2", "--no-access-log") as server:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            stats = entries(server.port)
            if len(stats) == 2 and all(stats):
                break
            for _ in range(8):  # new connections spread over the workers (SO_REUSEPORT)
                get(server, "/news")
        assert entries(server.port) == [1, 1]
        # A page's purge runs in one worker and is passed on to the other.
        assert get(server, "/purge?tag=news").text == "purged 1"
        deadline = time.monotonic() + 10
        while entries(server.port) != [0, 0] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert entries(server.port) == [0, 0]
        for _ in range(16):
            get(server, "/news")
        out = dynlan_cli("cache", "purge", "--port", str(server.port), "--all")
        assert out.returncode == 0 and out.stdout.strip().endswith("in 2 workers")
        assert entries(server.port) == [0, 0]
