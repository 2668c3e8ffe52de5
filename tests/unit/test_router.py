"""Page routing without a server: file routes, dynamic routes, and path info split at a page file."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dynlan.app import App, discover_sites
from dynlan.app._router import Router
from dynlan.config import Config, ConfigError
from dynlan.runtimes import Registry
from dynlan_template import TemplateRuntime

SUFFIXES = {".php": "php", ".lua": "lua"}
FILES = (
    "info.php",
    "index.php",
    "hello.lua",
    "users/[id].php",
    "dir.php/inner.php",
    "dir.php/note.txt",
    "uploads/image.jpg",
    "_lib/util.php",
    ".hidden.php",
)


def make_site(base: Path) -> str:
    site = base / "site"
    for name in FILES:
        (site / name).parent.mkdir(parents=True, exist_ok=True)
        (site / name).write_text("<?php echo 'page';")
    return os.path.realpath(site)


@pytest.fixture
def root(tmp_path: Path) -> str:
    return make_site(tmp_path)


@pytest.fixture
def router(root: str) -> Router:
    return Router(root, SUFFIXES, frozenset({".php"}))


@pytest.fixture(scope="module")
def shared_router(tmp_path_factory: pytest.TempPathFactory) -> Router:
    """One site for the property test (hypothesis runs it many times with one fixture value)."""
    return Router(make_site(tmp_path_factory.mktemp("router")), SUFFIXES, frozenset({".php"}))


def test_routes_and_dynamic_parameters(router: Router, root: str) -> None:
    info = router.match("/info")
    assert info is not None and info.route.file == os.path.join(root, "info.php") and info.path_info == ""
    user = router.match("/users/42")
    assert user is not None and user.params == {"id": "42"} and user.path_info == ""
    assert router.match("/_lib/util") is None and router.match("/.hidden") is None


@pytest.mark.parametrize(
    ("path", "page", "path_info"),
    [
        ("/info.php/a/b", "info.php", "/a/b"),
        ("/info.php/", "info.php", "/"),
        ("/info.php/a/", "info.php", "/a/"),
        ("/info.php//a//b", "info.php", "/a/b"),  # normalised, as nginx merges slashes
        ("/info.php/caf%C3%A9/x%20y", "info.php", "/café/x y"),  # decoded, as nginx's $fastcgi_path_info
        ("/index.php/a", "index.php", "/a"),
        ("/dir.php/inner.php/q", "dir.php/inner.php", "/q"),  # the folder dir.php is skipped, not run
    ],
)
def test_path_info_is_split_at_the_first_page_file(router: Router, root: str, path: str, page: str, path_info: str) -> None:
    match = router.split_path_info(path)
    assert match is not None
    assert match.route.file == os.path.join(root, page) and match.path_info == path_info and match.params == {}


@pytest.mark.parametrize(
    "path",
    [
        "/info.php",  # the page itself: a plain route, not path info
        "/info",
        "/uploads/image.jpg/x.php",  # an upload with a .php name after it never runs
        "/uploads/image.jpg/x.php/y",
        "/dir.php/note.txt/x",
        "/dir.php/x",
        "/users/[id].php/x",  # a dynamic page is not reachable by its file name
        "/_lib/util.php/x",
        "/.hidden.php/x",
        "/info.php/.git/config",
        "/info.php/_lib/x",
        "/info.php/a%00b",
        "/info.php%00/x",
        "/info.php/../info.php/x",
        "/info.php/a%2Fb",
        "/info.php/a%5Cb",
        "/info.php/%FF",
        "/hello.lua/x",  # Lua takes no path info
        "/INFO.PHP/x",
    ],
)
def test_path_info_tricks_split_nothing(router: Router, path: str) -> None:
    assert router.split_path_info(path) is None


def test_only_runtimes_that_take_path_info_split(root: str) -> None:
    assert Router(root, SUFFIXES).split_path_info("/info.php/a") is None


def test_a_page_removed_since_the_scan_splits_nothing(router: Router, root: str) -> None:
    os.remove(os.path.join(root, "info.php"))
    assert router.split_path_info("/info.php/a") is None


SEGMENTS = ["info.php", "dir.php", "inner.php", "uploads", "image.jpg", "x.php", "_lib", "util.php", ".hidden.php",
            "..", ".", "", "a", "%00", "%2F", "%2e%2e", "caf%C3%A9", "users", "[id].php"]


@given(parts=st.lists(st.sampled_from(SEGMENTS), min_size=1, max_size=6))
def test_a_split_always_runs_a_known_page_under_the_root(shared_router: Router, parts: list[str]) -> None:
    match = shared_router.split_path_info("/" + "/".join(parts))
    if match is None:
        return
    route = match.route
    assert route.file.endswith(".php") and os.path.isfile(route.file) and not route.dynamic
    assert route.file.startswith(shared_router.root + os.sep)
    assert route.name in ("info.php", "index.php", "dir.php/inner.php")
    assert match.path_info.startswith("/") and "\x00" not in match.path_info
    assert not any(s.startswith((".", "_")) for s in match.path_info.split("/")), match.path_info


MULTI = {".tmpl": "template", ".txt.tmpl": "text", ".lua": "lua"}


@pytest.mark.parametrize(
    ("filename", "runtime"),
    [
        ("a.tmpl", "template"),
        ("a.txt.tmpl", "text"),  # the longest suffix wins
        ("a.html.tmpl", "template"),
        ("txt.tmpl", "template"),  # ".txt.tmpl" needs its own dot
        ("a.txt", None),
        ("a.tmpl.txt", None),
        ("hello.lua", "lua"),
        (".tmpl", None),
        (".a.txt.tmpl", None),  # hidden names are never pages
        ("_a.lua", None),
        ("lua", None),
        ("a.LUA", None),
    ],
)
def test_runtime_for_takes_the_longest_suffix(tmp_path: Path, filename: str, runtime: str | None) -> None:
    assert Router(str(tmp_path), MULTI).runtime_for(filename) == runtime


def test_multi_dot_pages_route_by_their_stem(tmp_path: Path) -> None:
    for name in ("notes.txt.tmpl", "page.tmpl", "index.txt.tmpl", "docs/guide.html.tmpl"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    router = Router(str(tmp_path), MULTI)
    routes = {m.route.name: m.route.runtime for p in ("/notes", "/page", "/", "/docs/guide.html") if (m := router.match(p))}
    assert routes == {"notes.txt.tmpl": "text", "page.tmpl": "template", "index.txt.tmpl": "text",
                      "docs/guide.html.tmpl": "template"}
    assert router.match("/notes.txt") is None


def test_two_pages_on_one_url_stop_the_start(tmp_path: Path) -> None:
    (tmp_path / "hello.lua").write_text("x")
    (tmp_path / "hello.php").write_text("x")
    with pytest.raises(ConfigError) as caught:
        Router(str(tmp_path), SUFFIXES)
    assert str(caught.value) == f"{tmp_path}: pages hello.lua and hello.php both answer the same URL /hello"


def test_a_conflict_while_serving_is_logged_once_and_other_pages_are_picked_up(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    (tmp_path / "hello.lua").write_text("x")
    (tmp_path / "users").mkdir()
    (tmp_path / "users" / "[id].php").write_text("x")
    router = Router(str(tmp_path), SUFFIXES)
    for name in ("hello.php", "other.lua", "users/[name].lua", "new.php", "new.lua"):
        (tmp_path / name).write_text("x")
    with caplog.at_level(logging.WARNING, logger="dynlan"):
        router.rescan()
        router.rescan()
    pages = {p: m.route.name for p in ("/hello", "/other", "/users/7", "/new") if (m := router.match(p))}
    # The URLs that had a page keep it; a URL whose pages are all new gets the first by name.
    assert pages == {"/hello": "hello.lua", "/other": "other.lua", "/users/7": "users/[id].php", "/new": "new.lua"}
    assert sorted(r.getMessage().split(": ", 1)[1] for r in caplog.records) == [
        "pages hello.lua and hello.php both answer /hello; hello.lua keeps answering it until the others are renamed",
        "pages new.lua and new.php both answer /new; new.lua keeps answering it until the others are renamed",
        "pages users/[id].php and users/[name].lua both answer /users/[id]; "
        "users/[id].php keeps answering it until the others are renamed",
    ]
    assert os.path.join(str(tmp_path), "hello.php") not in router.by_file  # the other page is not run, nor served

    caplog.clear()
    os.remove(tmp_path / "hello.lua")
    with caplog.at_level(logging.WARNING, logger="dynlan"):
        router.rescan()
    match = router.match("/hello")
    assert match is not None and match.route.name == "hello.php" and match.route.runtime == "php"
    assert caplog.records == []  # the other conflicts were already logged


def test_routes_are_listed_fixed_then_dynamic_in_the_order_tried(router: Router) -> None:
    assert [(r.url, r.name, r.runtime) for r in router.routes()] == [
        ("/", "index.php", "php"),
        ("/dir.php/inner", "dir.php/inner.php", "php"),
        ("/hello", "hello.lua", "lua"),
        ("/info", "info.php", "php"),
        ("/users/[id]", "users/[id].php", "php"),
    ]


def test_a_router_made_for_a_reload_keeps_what_the_serving_one_chose(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    (tmp_path / "hello.php").write_text("x")
    serving = Router(str(tmp_path), SUFFIXES)
    (tmp_path / "hello.lua").write_text("x")
    (tmp_path / "other.lua").write_text("x")
    with caplog.at_level(logging.WARNING, logger="dynlan"):
        serving.rescan()
        reloaded = Router(str(tmp_path), SUFFIXES, previous=serving)
    for router in (serving, reloaded):
        hello, other = router.match("/hello"), router.match("/other")
        assert hello is not None and hello.route.name == "hello.php" and other is not None
    assert len(caplog.records) == 1  # the reload does not log the conflict again
    with pytest.raises(ConfigError):
        Router(str(tmp_path), SUFFIXES)  # a fresh start refuses it


def test_the_app_routes_a_two_dot_suffix_to_its_runtime(tmp_path: Path) -> None:
    for name in ("notes.txt.tmpl", "page.tmpl", "hello.lua"):
        (tmp_path / name).write_text("x")
    reg = Registry()
    reg.add(TemplateRuntime())
    text = TemplateRuntime()  # the example adapter again, claiming a two-dot suffix
    text.name, text.suffixes = "text", (".txt.tmpl",)
    reg.add(text)
    config = Config()
    sites, default = discover_sites(tmp_path, config)
    app = App(config, sites, default)
    app.prepare(reg)
    router: Router = default.router
    # No runtime of this registry claims .lua: hello.lua is a static file here.
    assert {p: m.route.runtime for p in ("/notes", "/page", "/hello") if (m := router.match(p))} == {
        "/notes": "text", "/page": "template"}
    assert router.runtime_for("notes.txt.tmpl") == "text" and router.runtime_for("notes.txt") is None
    assert set(app.runtimes) == {"text", "template"}
