"""The error renderer: a site's errors/NNN.html, then errors/4xx.html or 5xx.html, then the built-in page."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dynlan.app._errors import ErrorPages, builtin_page, error_response
from dynlan.app._sites import Site
from dynlan.config import SiteConfig, StaticConfig


def make_site(root: Path, symlinks: str = "inside") -> Site:
    return Site("a.test", str(root.resolve()), SiteConfig(static=StaticConfig(symlinks=symlinks)))


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.mark.parametrize(
    ("files", "status", "expected"),
    [
        ({}, 404, None),
        ({"404.html": "own 404"}, 404, "own 404"),
        ({"404.html": "own 404", "4xx.html": "any 4xx"}, 404, "own 404"),
        ({"4xx.html": "any 4xx"}, 404, "any 4xx"),
        ({"4xx.html": "any 4xx"}, 403, "any 4xx"),
        ({"4xx.html": "any 4xx"}, 500, None),
        ({"5xx.html": "any 5xx", "503.html": "busy"}, 500, "any 5xx"),
        ({"5xx.html": "any 5xx", "503.html": "busy"}, 503, "busy"),
        ({"404.htm": "wrong suffix", "404": "no suffix"}, 404, None),
    ],
)
def test_lookup_order(tmp_path: Path, files: dict[str, str], status: int, expected: str | None) -> None:
    for name, text in files.items():
        write(tmp_path / "errors" / name, text)
    pages = ErrorPages(str(tmp_path.resolve()))
    assert pages.page(status) == (expected.encode() if expected is not None else None)


def test_changed_new_and_removed_pages_are_seen_without_a_restart(tmp_path: Path) -> None:
    pages = ErrorPages(str(tmp_path.resolve()))
    assert pages.page(404) is None
    write(tmp_path / "errors" / "4xx.html", "family")
    assert pages.page(404) == b"family"
    write(tmp_path / "errors" / "404.html", "first")
    assert pages.page(404) == b"first"
    # Same size, later mtime: read again.
    write(tmp_path / "errors" / "404.html", "again")
    st = os.stat(tmp_path / "errors" / "404.html")
    os.utime(tmp_path / "errors" / "404.html", ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert pages.page(404) == b"again"
    write(tmp_path / "errors" / "404.html", "a longer page")
    assert pages.page(404) == b"a longer page"
    (tmp_path / "errors" / "404.html").unlink()
    assert pages.page(404) == b"family"


def test_builtin_page_names_the_status_message_and_request_id() -> None:
    body = builtin_page(404, "/x <b> not found", "req-42").decode()
    assert "404 Not Found" in body and "/x &lt;b&gt; not found" in body and "request id req-42" in body
    assert "<pre>" not in body
    assert "<pre class=\"trace\">trace &amp; more</pre>" in builtin_page(500, "failed", "r", "trace & more").decode()
    assert "599 Error" in builtin_page(599, "odd", "r").decode()


def test_site_page_unless_dev_detail(tmp_path: Path) -> None:
    write(tmp_path / "errors" / "500.html", "<p>sorry</p>")
    site = make_site(tmp_path)
    headers, body = error_response(site, 500, "the page failed", "r1")
    assert body == b"<p>sorry</p>"
    assert ("content-type", "text/html; charset=utf-8") in headers and ("content-length", "12") in headers
    # --dev: the detail is worth more than the site's page.
    headers, body = error_response(site, 500, "the page failed", "r1", "Traceback: boom")
    assert b"Traceback: boom" in body and b"request id r1" in body
    _, body = error_response(None, 404, "gone", "r2")
    assert b"request id r2" in body


@pytest.mark.parametrize(("policy", "served"), [("inside", False), ("owner", True), ("follow", True)])
def test_an_error_page_linked_from_outside_the_site_follows_the_link_policy(
    tmp_path: Path, policy: str, served: bool,
) -> None:
    outside = tmp_path / "outside.html"
    outside.write_text("from outside")
    root = tmp_path / "site"
    (root / "errors").mkdir(parents=True)
    (root / "errors" / "404.html").symlink_to(outside)
    pages = ErrorPages(str(root.resolve()), policy)
    # The link and its target have the same owner (whoever runs the test): `owner` follows it.
    assert pages.page(404) == (b"from outside" if served else None)


def test_a_page_too_large_is_not_used(tmp_path: Path) -> None:
    write(tmp_path / "errors" / "404.html", "x" * (1024 * 1024 + 1))
    write(tmp_path / "errors" / "4xx.html", "small")
    assert ErrorPages(str(tmp_path.resolve())).page(404) == b"small"
