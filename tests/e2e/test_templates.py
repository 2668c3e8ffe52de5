"""Templates (dynlan.templates) from every page language and as `.jinja` pages, over real HTTP: a `dynlan serve
--dev` of one site whose Lua, Wren, Python (in-process and in the process sandbox) and PHP pages render the same
templates, asked with httpx.

Each language's page renders `?tpl=` (default `_tpl/list.html`) with a title from `?title=` and three items, either
as text it writes (`template.render`) or straight into the response (`?direct=1`: `response.render`), and
answers `error: <message>` when the host refuses the template.
"""

from __future__ import annotations

import html
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests._server import RunningServer, run_dynlan

pytestmark = pytest.mark.e2e

WALL = 2.0
OUTPUT = 1_000_000

TEMPLATES = {
    "_tpl/base.html": "<html><title>{% block title %}{% endblock %}</title>\n<body>{% block body %}{% endblock %}"
                      "</body></html>\n",
    "_tpl/list.html": '{% extends "_tpl/base.html" %}{% block title %}{{ title }}{% endblock %}\n'
                      '{% block body %}<ul>{% for i in items %}<li>{{ i }}</li>{% endfor %}</ul>'
                      '{% include "_tpl/footer.html" %}{% endblock %}\n',
    "_tpl/footer.html": "<footer>v1</footer>",
    "_tpl/class.html": "[{{ ''.__class__ }}]",
    "_tpl/mro.html": "{{ ''.__class__.__mro__ }}",
    "_tpl/loop.html": "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}done",
    "_tpl/big.html": '{% for i in range(100000) %}{{ "x" * 1000 }}{% endfor %}',
    "_tpl/broken.html": "<p>one</p>\n<p>two</p>\n<p>{% if %}</p>\n",
    "_tpl/undefined.html": "<p>one</p>\n<p>{{ nothing.here() }}</p>\n",
    "_tpl/notes.txt": "{{ title }}",
}

LUA = """
local q = request.query
local values = {title = q.title or "T", items = {"a", "<b>", 3}}
if q.direct then response.render(q.tpl or "_tpl/list.html", values) return end
local ok, text = pcall(template.render, q.tpl or "_tpl/list.html", values)
if not ok then response.write("error: " .. tostring(text)) return end
response.write(text)
"""

WREN = """
var q = Request.query
var values = {"title": q["title"] || "T", "items": ["a", "<b>", 3]}
var name = q["tpl"] || "_tpl/list.html"
if (q["direct"] != null) {
  Response.render(name, values)
} else {
  var f = Fiber.new { Template.render(name, values) }
  var text = f.try()
  Response.write(f.error != null ? "error: %(f.error)" : text)
}
"""

PY = """
def handle(request, response):
    q = request.query
    name = q.get("tpl", "_tpl/list.html")
    if "direct" in q:
        response.render(name, {"title": q.get("title", "T")}, items=["a", "<b>", 3])
        return
    try:
        text = template.render(name, {"title": q.get("title", "T")}, items=["a", "<b>", 3])
    except Exception as exc:
        response.write(f"error: {exc}")
        return
    response.write(text)
"""

PHP = """<?php
$name = $_GET['tpl'] ?? '_tpl/list.html';
$values = ['title' => $_GET['title'] ?? 'T', 'items' => ['a', '<b>', 3]];
if (isset($_GET['direct'])) { dynlan_render($name, $values); return; }
try {
    echo dynlan_template_render($name, $values);
} catch (Throwable $e) {
    echo 'error: ', $e->getMessage();
}
"""

PAGES = {
    "lua.lua": LUA, "wren.wren": WREN, "py.py": PY, "php.php": PHP,
    "about.jinja": '{% extends "_tpl/base.html" %}{% block title %}About{% endblock %}{% block body %}'
                   "{{ request.method }} {{ request.path }} q={{ request.query.x }} "
                   "h={{ request.headers['x-h'] }}{% endblock %}",
    "users/[id].jinja": "user {{ request.params.id }}",
    "jinja-mro.jinja": "{{ ''.__class__.__mro__ }}",
    "jinja-loop.jinja": '{% include "_tpl/loop.html" %}',
    "jinja-big.jinja": '{% include "_tpl/big.html" %}',
    "jinja-broken.jinja": '<p>{% include "_tpl/broken.html" %}</p>',
    "jinja-undefined.jinja": '{% include "_tpl/undefined.html" %}',
    "jinja-escape.jinja": '{% include "../secret.html" %}',
    "uncaught.lua": 'response.write(template.render("_tpl/undefined.html", {}))',
}

CALLERS = ["lua.lua", "wren.wren", "py.py", "sandboxed/py.py",
           "php.php"]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    top = tmp_path_factory.mktemp("templates")
    (top / "secret.html").write_text("TOP-SECRET outside the site")
    root = top / "site"
    for name, text in {**TEMPLATES, **PAGES}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    # A link inside the site to a file outside it.
    os.symlink(top / "secret.html", root / "_tpl" / "out.html")
    return root


@pytest.fixture(scope="module")
def server(site: Path) -> Iterator[RunningServer]:
    config = f'[limits]\nwall_time = {WALL}\noutput_size = {OUTPUT}\n\n[python]\nsandbox = "none"\n'
    with run_dynlan(site, "--dev", config=config) as running:
        yield running


@pytest.fixture(scope="module")
def sandboxed(site: Path) -> Iterator[RunningServer]:
    """The same site with its Python pages in the process sandbox, and without --dev."""
    config = f'[limits]\nwall_time = {WALL}\noutput_size = {OUTPUT}\n\n[python]\nsandbox = "process"\n'
    with run_dynlan(site, config=config) as running:
        yield running


def get(server: RunningServer, path: str, **params: str) -> httpx.Response:
    return httpx.get(f"{server.url}/{path}", params=params, headers={"x-h": "<hdr>"}, timeout=60)


def ask(request: pytest.FixtureRequest, page: str, **params: str) -> httpx.Response:
    """`page` asked of the server that runs it (`sandboxed/py.py`: `py.py` in the process sandbox)."""
    if page.startswith("sandboxed/"):
        return get(request.getfixturevalue("sandboxed"), page.removeprefix("sandboxed/").removesuffix(".py"), **params)
    return get(request.getfixturevalue("server"), page.removesuffix(".lua").removesuffix(".wren")
               .removesuffix(".py").removesuffix(".php"), **params)


# -- rendering, escaping, extends and include -------------------------------------------------------------------


@pytest.mark.parametrize("direct", [False, True], ids=["render", "response.render"])
@pytest.mark.parametrize("page", CALLERS)
def test_renders_with_extends_include_and_escapes(request: pytest.FixtureRequest, page: str, direct: bool) -> None:
    params = {"title": "<script>alert(1)</script>"}
    if direct:
        params["direct"] = "1"
    r = ask(request, page, **params)
    assert r.status_code == 200, r.text
    assert r.text.startswith("<html><title>&lt;script&gt;alert(1)&lt;/script&gt;</title>"), r.text
    assert "<script>" not in r.text
    assert "<ul><li>a</li><li>&lt;b&gt;</li><li>3</li></ul><footer>v1</footer></body></html>" in r.text


@pytest.mark.parametrize("page", CALLERS)
def test_text_templates_are_not_escaped(request: pytest.FixtureRequest, page: str) -> None:
    r = ask(request, page, tpl="_tpl/notes.txt", title="a<b")
    assert (r.status_code, r.text) == (200, "a<b")


def test_jinja_page_answers_its_url_with_the_request(server: RunningServer) -> None:
    r = get(server, "about", x="<i>")
    assert r.status_code == 200 and r.headers["content-type"] == "text/html; charset=utf-8"
    assert r.text.startswith("<html><title>About</title>")
    assert "GET /about q=&lt;i&gt; h=&lt;hdr&gt;" in r.text
    r = get(server, "users/42")
    assert (r.status_code, r.text) == (200, "user 42")


# -- only the site's files ------------------------------------------------------------------------------------


REFUSED = ["../secret.html", "_tpl/../../secret.html", "/etc/passwd", str(Path("/etc/passwd")), "_tpl/out.html",
           "..\\secret.html", ".hidden.html", "_tpl/missing.html"]


@pytest.mark.parametrize("name", REFUSED)
@pytest.mark.parametrize("page", CALLERS)
def test_names_outside_the_site_are_refused(request: pytest.FixtureRequest, page: str, name: str) -> None:
    r = ask(request, page, tpl=name)
    assert r.status_code == 200, r.text
    assert r.text.startswith("error: ") and "template" in r.text, r.text
    assert "TOP-SECRET" not in r.text and "root:" not in r.text


def test_jinja_page_cannot_include_outside_the_site(server: RunningServer) -> None:
    r = get(server, "jinja-escape")
    assert r.status_code == 500 and "TOP-SECRET" not in r.text
    assert "must be a path inside the site" in r.text


# -- the sandbox and the budgets --------------------------------------------------------------------------------


@pytest.mark.parametrize("page", CALLERS)
def test_sandbox_refuses_underscore_attributes(request: pytest.FixtureRequest, page: str) -> None:
    r = ask(request, page, tpl="_tpl/class.html")
    assert (r.status_code, r.text) == (200, "[]")
    r = ask(request, page, tpl="_tpl/mro.html")
    assert r.status_code == 200 and r.text.startswith("error: "), r.text
    assert "unsafe" in r.text and "<class" not in r.text


def test_jinja_page_sandbox(server: RunningServer) -> None:
    r = get(server, "jinja-mro")
    assert r.status_code == 500 and "unsafe" in r.text and "<class" not in r.text


@pytest.mark.parametrize("page", [*CALLERS, "jinja-loop.jinja"])
def test_a_huge_loop_ends_at_the_wall_time(request: pytest.FixtureRequest, page: str) -> None:
    started = time.monotonic()
    r = ask(request, page.removesuffix(".jinja"), tpl="_tpl/loop.html")
    elapsed = time.monotonic() - started
    # 10^10 iterations: only the budget ends it, about at WALL: the request (503, as every runtime's spent time
    # budget), or the call, with an error a PHP or in-process Python page may catch.
    # (PHP's own wall time may end the request first.)
    caught = (200, "error: template rendering ran past the page's time budget")
    assert r.status_code == 503 or (page in ("py.py", "php.php") and (r.status_code, r.text) == caught), r.text
    assert elapsed < WALL * 8


@pytest.mark.parametrize("page", ["lua.lua", "wren.wren", "sandboxed/py.py", "jinja-big.jinja"])
def test_output_is_bounded_by_the_output_budget(request: pytest.FixtureRequest, page: str) -> None:
    r = ask(request, page.removesuffix(".jinja"), tpl="_tpl/big.html")
    # The page's output budget (BudgetExceeded "output": 500), caught at the render's first chunk past it.
    assert r.status_code == 500, r.text[:300]
    assert "rendered more than the page&#x27;s output budget" in r.text
    assert len(r.content) < OUTPUT


# -- reload -------------------------------------------------------------------------------------------------------


def test_edited_templates_render_new(server: RunningServer, site: Path) -> None:
    """The page's template, the one it extends and the one it includes, each edited while serving."""
    assert "<footer>v1</footer>" in get(server, "lua").text
    original = {name: (site / name).read_text() for name in ("_tpl/footer.html", "_tpl/base.html", "_tpl/list.html")}
    try:
        (site / "_tpl/footer.html").write_text("<footer>version two</footer>")
        assert "<footer>version two</footer>" in get(server, "lua").text
        (site / "_tpl/base.html").write_text(original["_tpl/base.html"].replace("<html>", "<html lang=en>"))
        assert get(server, "wren").text.startswith("<html lang=en><title>T</title>")
        (site / "_tpl/list.html").write_text(original["_tpl/list.html"].replace("<ul>", "<ol>"))
        assert "<ol><li>a</li>" in get(server, "py").text
    finally:
        for name, text in original.items():
            (site / name).write_text(text)
    assert "<ul><li>a</li>" in get(server, "lua").text and "<footer>v1</footer>" in get(server, "lua").text


# -- errors in --dev ------------------------------------------------------------------------------------------------


def test_dev_error_page_names_the_template_line(server: RunningServer) -> None:
    r = get(server, "jinja-broken")
    assert r.status_code == 500
    shown = html.unescape(re.sub(r"<[^>]+>", "", r.text))  # the excerpt is highlighted
    assert "_tpl/broken.html" in shown and "line 3" in shown
    assert "<p>{% if %}</p>" in shown
    r = get(server, "jinja-undefined")
    assert r.status_code == 500
    shown = html.unescape(re.sub(r"<[^>]+>", "", r.text))
    assert "_tpl/undefined.html" in shown and "line 2" in shown and "nothing.here()" in shown


def test_dev_error_page_of_a_lua_page_names_the_template(server: RunningServer) -> None:
    r = get(server, "uncaught")
    assert r.status_code == 500
    shown = html.unescape(re.sub(r"<[^>]+>", "", r.text))  # the excerpt is highlighted
    assert "uncaught.lua" in shown
    assert "_tpl/undefined.html, line 2" in shown and "nothing.here()" in shown


def test_errors_outside_dev_show_no_source(sandboxed: RunningServer) -> None:
    r = get(sandboxed, "jinja-broken")
    assert r.status_code == 500 and "{% if %}" not in r.text and "broken.html" not in r.text
