"""`[openapi] serve` and `[openapi] validate` over real HTTP: the site's document at /.well-known/openapi.json
(valid, following the pages as they are added), and requests to annotated pages checked before the page runs."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from openapi_spec_validator import validate

from tests._server import RunningServer, run_dynlan

pytestmark = pytest.mark.e2e

ITEMS = """\
-- @summary Add an item
-- @methods GET POST
-- @param query limit integer How many, at most
-- @param query mode string required
-- @param header x-trace integer
-- @body application/json {"type": "object", "required": ["items"], "properties": {"items": {"type": "array", "items": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}}}}
-- @response 200 text/plain
if request.method == "POST" then
  local body = json.decode(request.body())
  response.write("added " .. #body.items .. " limit " .. tostring(request.query.limit))
else
  response.write("listed " .. tostring(request.query.limit))
end
"""

USER = """\
-- @param path id integer
print("user " .. request.params.id)
"""

PLAIN = 'print("plain " .. tostring(request.query.limit))\n'


def make_site(root: Path, openapi: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "items.lua").write_text(ITEMS)
    (root / "users").mkdir(exist_ok=True)
    (root / "users" / "[id].lua").write_text(USER)
    (root / "plain.lua").write_text(PLAIN)
    (root / "dynlan.toml").write_text(f"[openapi]\n{openapi}\n")
    return root


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[RunningServer, Path]]:
    site = make_site(tmp_path / "site", "serve = true\nvalidate = true")
    with run_dynlan(site) as server:
        yield server, site


def test_the_document_is_served_valid_and_follows_the_pages(served: tuple[RunningServer, Path]) -> None:
    server, site = served
    with httpx.Client(base_url=server.url, timeout=60) as client:
        r = client.get("/.well-known/openapi.json")
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "application/json"
        doc = r.json()
        validate(doc)
        assert sorted(doc["paths"]) == ["/items", "/plain", "/users/{id}"]
        assert doc["paths"]["/items"]["post"]["summary"] == "Add an item"
        head = client.head("/.well-known/openapi.json")
        assert head.status_code == 200 and head.content == b""
        assert int(head.headers["content-length"]) == len(r.content)
        assert client.post("/.well-known/openapi.json", content=b"x").status_code == 405

        (site / "added.lua").write_text("-- @summary Added while serving\nprint(1)\n")
        deadline = time.monotonic() + 30
        while "/added" not in doc["paths"]:
            assert time.monotonic() < deadline, "the added page never appeared in the document"
            doc = client.get("/.well-known/openapi.json").json()
        validate(doc)
        assert doc["paths"]["/added"]["get"]["summary"] == "Added while serving"


def test_no_document_when_the_option_is_off(tmp_path: Path) -> None:
    site = make_site(tmp_path / "site", "validate = false")
    with run_dynlan(site) as server:
        r = httpx.get(server.url + "/.well-known/openapi.json", timeout=60)
        assert r.status_code == 404
        # Nor is anything validated: the page runs with what it gets.
        r = httpx.get(server.url + "/items?limit=abc", timeout=60)
        assert r.status_code == 200 and r.text == "listed abc"


def test_good_requests_reach_the_page(served: tuple[RunningServer, Path]) -> None:
    server, _ = served
    with httpx.Client(base_url=server.url, timeout=60) as client:
        r = client.get("/items", params={"limit": "5", "mode": "all"}, headers={"x-trace": "7"})
        assert (r.status_code, r.text) == (200, "listed 5")
        r = client.post("/items?mode=x&limit=2", json={"items": [{"name": "a"}, {"name": "b"}]})
        assert (r.status_code, r.text) == (200, "added 2 limit 2")
        assert client.get("/users/42").text == "user 42\n"


@pytest.mark.parametrize(("method", "path", "kw", "pointer"), [
    ("GET", "/items?mode=x&limit=abc", {}, "/query/limit"),
    ("GET", "/items?limit=3", {}, "/query/mode"),
    ("GET", "/items?mode=x", {"headers": {"x-trace": "high"}}, "/header/x-trace"),
    ("GET", "/users/abc", {}, "/path/id"),
    ("POST", "/items?mode=x", {"json": {"items": [{"name": "a"}, {"name": 3}]}}, "/body/items/1/name"),
    ("POST", "/items?mode=x", {"json": {"things": []}}, "/body"),
    ("POST", "/items?mode=x", {"content": b"{not json", "headers": {"content-type": "application/json"}}, "/body"),
    ("POST", "/items?mode=x", {"content": b"name=a", "headers": {"content-type": "text/plain"}}, "/body"),
    ("POST", "/items?mode=x", {}, "/body"),
])
def test_bad_requests_get_400_naming_the_field(
    served: tuple[RunningServer, Path], method: str, path: str, kw: dict[str, object], pointer: str,
) -> None:
    server, _ = served
    r = httpx.request(method, server.url + path, timeout=60, **kw)  # type: ignore[arg-type]
    assert r.status_code == 400, r.text
    assert f"{pointer}: " in r.text  # in the built-in error page


def test_a_failed_check_is_answered_by_the_sites_error_page(served: tuple[RunningServer, Path]) -> None:
    server, site = served
    (site / "errors").mkdir()
    (site / "errors" / "400.html").write_text("<h1>Not a request we take</h1>\n")
    r = httpx.get(server.url + "/items?mode=x&limit=abc", timeout=60)
    assert (r.status_code, r.text) == (400, "<h1>Not a request we take</h1>\n")


def test_unannotated_pages_are_not_checked(served: tuple[RunningServer, Path]) -> None:
    server, _ = served
    r = httpx.get(server.url + "/plain?limit=abc", timeout=60)
    assert (r.status_code, r.text) == (200, "plain abc\n")


BODY = '{"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}'
CHECKED_BODY_PAGES = {
    "echo-php.php": f"<?php\n// @methods POST\n// @body application/json {BODY}\necho file_get_contents('php://input');\n",
    "echo-py.py": f"# @methods POST\n# @body application/json {BODY}\n"
               "def handle(request, response):\n    response.write(request.body())\n",
    "echo-wren.wren": f"// @methods POST\n// @body application/json {BODY}\nSystem.write(Request.body)\n",
}


@pytest.mark.parametrize("page", sorted(CHECKED_BODY_PAGES))
def test_each_language_reads_the_checked_body(tmp_path: Path, page: str) -> None:
    site = make_site(tmp_path / "site", "validate = true")
    (site / page).write_text(CHECKED_BODY_PAGES[page])
    url = "/" + page.rsplit(".", 1)[0]
    with run_dynlan(site) as server, httpx.Client(base_url=server.url, timeout=60) as client:
        sent = b'{"name": "a \\u00e9 b", "n": 1}' + b" " * 70000  # more than one chunk of body
        r = client.post(url, content=sent, headers={"content-type": "application/json"})
        assert (r.status_code, r.content) == (200, sent), r.text[:500]
        r = client.post(url, json={"name": 1})
        assert r.status_code == 400 and "/body/name: " in r.text


def test_over_http2(served: tuple[RunningServer, Path]) -> None:
    server, _ = served
    with httpx.Client(base_url=server.url, timeout=60, http1=False, http2=True) as client:
        r = client.get("/.well-known/openapi.json")
        assert (r.http_version, r.status_code) == ("HTTP/2", 200)
        validate(r.json())
        r = client.post("/items?mode=x", json={"items": [{"name": "a"}]})
        assert (r.status_code, r.text) == (200, "added 1 limit nil")
        r = client.post("/items?mode=x", json={"items": [{}]})
        assert r.status_code == 400 and "/body/items/0: " in r.text
