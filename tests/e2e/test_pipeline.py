"""The request pipeline end to end with curl: every rule handler, header edits on every kind of answer, error pages.

One `dynlan serve` with a site whose `dynlan.toml` has a rule of each kind, and a server config that trusts
127.0.0.1 as a proxy (so X-Forwarded-For from the test is believed, and without it the client is 127.0.0.1).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import bcrypt
import pytest

from tests._server import RunningServer, run_dynlan

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse"

SITE_RULES = """
[[route]]
path = "/old/*"
redirect = "/new/{{path}}"
status = 301

[[route]]
path = "/elsewhere/*"
redirect = "http://{{host}}/there/{{path}}"
status = 302

[[route]]
path = "/docs/*"
rewrite = "/manual/{{path}}"

[[route]]
path = "/loop/*"
rewrite = "/loop/{{path}}"

[[route]]
path = "/ping"
respond = {{ status = 200, body = "pong" }}

[[route]]
path = "/api/*"
methods = ["GET", "PUT"]

[[route]]
path = "/admin/*"
basic_auth = {{ realm = "the admins", users = {{ alice = "{hash}" }} }}

[[route]]
path = "/private/*"
allow = ["10.0.0.0/8", "::1"]

[[route]]
path = "/blocked/*"
deny = ["127.0.0.0/8"]

[[route]]
path = "/*"
headers = {{ set = {{ "x-frame-options" = "DENY" }}, remove = ["x-powered-by"] }}

[[route]]
path = "/manual/*"
headers = {{ set = {{ "cache-control" = "no-store" }} }}
"""

SERVER_CONFIG = """
[server]
trusted_proxies = ["127.0.0.1"]
"""


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: str


def curl_i(url: str, *args: str) -> Response:
    """One request with curl -i: the final status line, headers (lower-case names) and body."""
    out = subprocess.run(["curl", "-sS", "-i", "--max-time", "30", *args, url], capture_output=True, check=True).stdout
    head, _, body = out.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Response(int(lines[0].split()[1]), headers, body.decode("utf-8", "replace"))


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pipeline")
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    (root / "dynlan.toml").write_text(SITE_RULES.format(hash=hashed))
    for folder in ("manual", "api", "admin", "private", "blocked"):
        (root / folder).mkdir()
        (root / folder / "index.html").write_text(f"{folder} here\n")
    (root / "manual" / "intro.txt").write_text("the manual\n")
    (root / "manual" / "sub").mkdir()
    (root / "manual" / "sub" / "index.html").write_text("sub folder\n")
    (root / "style.css").write_text("body { color: black }\n")
    (root / "page.lua").write_text(
        'response.headers["x-powered-by"] = "lua"\nresponse.headers["x-page"] = "yes"\n'
        'print("page at " .. request.path .. " from " .. request.client)\n'
    )
    (root / "manual" / "page.lua").write_text((root / "page.lua").read_text())
    (root / "boom.lua").write_text('error("boom")\n')
    (root / "errors").mkdir()
    return root


@pytest.fixture(scope="module")
def server(site: Path) -> Iterator[RunningServer]:
    with run_dynlan(site, config=SERVER_CONFIG) as running:
        yield running


def test_redirect_keeps_the_query_and_fills_placeholders(server: RunningServer) -> None:
    r = curl_i(f"{server.url}/old/a/b.html?x=1&y=2")
    assert r.status == 301 and r.headers["location"] == "/new/a/b.html?x=1&y=2"
    r = curl_i(f"{server.url}/elsewhere/deep/page", "-H", "Host: example.test:8080")
    assert r.status == 302 and r.headers["location"] == "http://example.test/there/deep/page"


def test_rewrite_is_internal(server: RunningServer) -> None:
    r = curl_i(f"{server.url}/docs/intro.txt")
    assert r.status == 200 and r.body == "the manual\n" and "location" not in r.headers
    # The rewritten path's own rules apply too: /manual/* sets cache-control.
    assert r.headers["cache-control"] == "no-store"
    # A folder without its slash is redirected to the URL asked for, not to the rewritten one.
    r = curl_i(f"{server.url}/docs/sub?a=b")
    assert r.status == 301 and r.headers["location"] == "/docs/sub/?a=b"
    assert curl_i(f"{server.url}/docs/sub/").body == "sub folder\n"
    # The page sees the path the client asked for.
    assert curl_i(f"{server.url}/docs/page").body.strip() == "page at /docs/page from 127.0.0.1"


def test_a_rewrite_loop_ends_in_an_error_page(server: RunningServer) -> None:
    r = curl_i(f"{server.url}/loop/x")
    assert r.status == 500 and "rewrite" in r.body and "request id" in r.body


def test_respond(server: RunningServer) -> None:
    r = curl_i(f"{server.url}/ping")
    assert (r.status, r.body) == (200, "pong")
    assert r.headers["x-frame-options"] == "DENY"


def test_methods_405_with_allow(server: RunningServer) -> None:
    assert curl_i(f"{server.url}/api/").status == 200
    r = curl_i(f"{server.url}/api/", "-X", "DELETE")
    assert r.status == 405
    assert {m.strip() for m in r.headers["allow"].split(",")} == {"GET", "HEAD", "PUT", "OPTIONS"}
    assert r.headers["content-type"].startswith("text/html") and "request id" in r.body


def test_basic_auth(server: RunningServer) -> None:
    r = curl_i(f"{server.url}/admin/")
    assert r.status == 401 and r.headers["www-authenticate"].startswith('Basic realm="the admins"')
    assert curl_i(f"{server.url}/admin/", "-u", "alice:wrong").status == 401
    assert curl_i(f"{server.url}/admin/", "-u", "mallory:" + PASSWORD).status == 401
    r = curl_i(f"{server.url}/admin/", "-u", "alice:" + PASSWORD)
    assert (r.status, r.body) == (200, "admin here\n")


def test_allow_and_deny_by_client_address(server: RunningServer) -> None:
    # From 127.0.0.1 itself (a trusted proxy, but with nothing forwarded): not in 10.0.0.0/8.
    assert curl_i(f"{server.url}/private/").status == 403
    assert curl_i(f"{server.url}/blocked/").status == 403
    # Through the trusted proxy, for a client in the allowed block.
    r = curl_i(f"{server.url}/private/", "-H", "X-Forwarded-For: 10.1.2.3")
    assert (r.status, r.body) == (200, "private here\n")
    assert curl_i(f"{server.url}/private/", "-H", "X-Forwarded-For: 192.168.1.5").status == 403
    assert curl_i(f"{server.url}/private/", "-H", "Forwarded: for=10.9.9.9").status == 200
    assert curl_i(f"{server.url}/blocked/", "-H", "X-Forwarded-For: 10.1.2.3").status == 200
    # The page sees the same client address.
    r = curl_i(f"{server.url}/page", "-H", "X-Forwarded-For: 10.7.7.7")
    assert r.body.strip() == "page at /page from 10.7.7.7"


def test_untrusted_forwarded_for_is_ignored(site: Path) -> None:
    with run_dynlan(site) as untrusting:
        assert curl_i(f"{untrusting.url}/private/", "-H", "X-Forwarded-For: 10.1.2.3").status == 403
        r = curl_i(f"{untrusting.url}/page", "-H", "X-Forwarded-For: 10.7.7.7")
        assert r.body.strip() == "page at /page from 127.0.0.1"


def test_header_edits_on_a_static_file_a_page_a_404_and_a_304(server: RunningServer) -> None:
    r = curl_i(f"{server.url}/style.css")
    assert r.status == 200 and r.headers["x-frame-options"] == "DENY"
    etag = r.headers["etag"]
    r = curl_i(f"{server.url}/style.css", "-H", f"If-None-Match: {etag}")
    assert r.status == 304 and r.headers["x-frame-options"] == "DENY"
    r = curl_i(f"{server.url}/page")
    assert r.status == 200 and r.headers["x-frame-options"] == "DENY" and r.headers["x-page"] == "yes"
    assert "x-powered-by" not in r.headers
    r = curl_i(f"{server.url}/no/such/thing")
    assert r.status == 404 and r.headers["x-frame-options"] == "DENY"


def test_error_pages_nnn_then_family_then_builtin_picked_up_while_serving(site: Path, server: RunningServer) -> None:
    errors = site / "errors"
    # Nothing in errors/ yet: the built-in page, with the request id.
    r = curl_i(f"{server.url}/blocked/")
    assert r.status == 403 and "request id" in r.body and "403 Forbidden" in r.body
    # New files are picked up without a restart.
    (errors / "4xx.html").write_text("<p>some client error</p>\n")
    (errors / "404.html").write_text("<p>not here</p>\n")
    assert curl_i(f"{server.url}/blocked/").body == "<p>some client error</p>\n"
    r = curl_i(f"{server.url}/missing")
    assert (r.status, r.body) == (404, "<p>not here</p>\n")
    # A changed page is read again (same size, so the mtime tells).
    (errors / "404.html").write_text("<p>not HERE</p>\n")
    st = os.stat(errors / "404.html")
    os.utime(errors / "404.html", ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))
    assert curl_i(f"{server.url}/missing").body == "<p>not HERE</p>\n"
    (errors / "404.html").unlink()
    assert curl_i(f"{server.url}/missing").body == "<p>some client error</p>\n"
    # A page that raises: errors/500.html.
    r = curl_i(f"{server.url}/boom")
    assert r.status == 500 and "request id" in r.body
    (errors / "500.html").write_text("<p>we broke</p>\n")
    r = curl_i(f"{server.url}/boom")
    assert (r.status, r.body) == (500, "<p>we broke</p>\n")
    assert r.headers["x-frame-options"] == "DENY"
    (errors / "4xx.html").unlink()
    (errors / "500.html").unlink()


def test_over_http2_redirect_and_headers(server: RunningServer) -> None:
    r = curl_i(f"{server.url}/old/x?q=1", "--http2-prior-knowledge")
    assert r.status == 301 and r.headers["location"] == "/new/x?q=1"
    r = curl_i(f"{server.url}/style.css", "--http2-prior-knowledge")
    assert r.status == 200 and r.headers["x-frame-options"] == "DENY"
    r = curl_i(f"{server.url}/page", "--http2-prior-knowledge")
    assert r.status == 200 and r.headers["x-frame-options"] == "DENY" and "x-powered-by" not in r.headers
    r = curl_i(f"{server.url}/api/", "--http2-prior-knowledge", "-X", "DELETE")
    assert r.status == 405 and "allow" in r.headers and r.headers["x-frame-options"] == "DENY"
    r = curl_i(f"{server.url}/admin/", "--http2-prior-knowledge", "-u", "alice:" + PASSWORD)
    assert (r.status, r.body) == (200, "admin here\n")


def test_a_body_over_the_site_limit_is_413_from_the_renderer(tmp_path: Path) -> None:
    (tmp_path / "dynlan.toml").write_text("[http]\nmax_body_size = 1000\n")
    (tmp_path / "echo.lua").write_text("print(#request.body())\n")
    (tmp_path / "errors").mkdir()
    (tmp_path / "errors" / "413.html").write_text("<p>too big</p>\n")
    with run_dynlan(tmp_path) as server:
        assert curl_i(f"{server.url}/echo", "--data-binary", "x" * 999).body.strip() == "999"
        r = curl_i(f"{server.url}/echo", "--data-binary", "x" * 1001)
        assert (r.status, r.body) == (413, "<p>too big</p>\n")
        # Without a declared length (chunked), found while the page reads it.
        r = curl_i(f"{server.url}/echo", "-H", "Transfer-Encoding: chunked", "--data-binary", "x" * 5000)
        assert (r.status, r.body) == (413, "<p>too big</p>\n")
