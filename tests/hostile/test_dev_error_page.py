"""Class 8: with `--dev`, error pages show source excerpts of the site's own files only.

The attacker's pages fail with messages (and, in Python, traceback frames) that name a line of
`/etc/passwd`, of the victim's `_secret.txt` (by relative and absolute path) and of a link in the
attacker's own site that points at the victim's secret. The error page must show none of them.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from tests.hostile._support import ATTACKER, Client, Secrets, assert_no_secret, why

pytestmark = pytest.mark.e2e

# page, and the query that says how it fails
PAGES = {
    "lua": "/lua/deverr.lua?",
    "wren": "/wren/deverr.wren?",
    "python-raise": "/python/deverr.py?how=raise&",
    "python-compile": "/python/deverr.py?how=compile&",
    "php-throw": "/php/deverr.php?how=throw&",
    "php-trigger": "/php/deverr.php?how=trigger&",
}
TARGETS = ["passwd-1", "passwd-2", "secret-site-relative", "secret-page-relative", "secret-absolute", "link"]
PASSWD_LINES = ("root:x:0:", "daemon:x:1:")


@pytest.fixture(scope="module")
def server_args() -> tuple[str, ...]:
    return ("--dev",)


def target(name: str, sites: Path) -> tuple[str, int]:
    return {
        "passwd-1": ("/etc/passwd", 1),
        "passwd-2": ("/etc/passwd", 2),
        "secret-site-relative": ("../b.test/_secret.txt", 1),
        "secret-page-relative": ("../../b.test/_secret.txt", 1),
        "secret-absolute": (str(sites / "b.test" / "_secret.txt"), 1),
        "link": ("link.txt", 1),
    }[name]


@pytest.mark.parametrize("name", TARGETS)
@pytest.mark.parametrize("how", PAGES)
def test_dev_error_page_shows_no_file_outside_the_site(h1: Client, how: str, name: str, sites: Path,
                                                       secrets: Secrets) -> None:
    path, line = target(name, sites)
    r = h1.get(ATTACKER, f"{PAGES[how]}target={path}&line={line}")
    assert r.status >= 500, why(h1.server, r)
    # The excerpts are highlighted: a line split by the highlighter's tags is still a leak.
    shown = html.unescape(re.sub(r"<[^>]+>", "", r.text))
    for passwd in PASSWD_LINES:
        assert passwd not in r.text and passwd not in shown, f"the error page shows /etc/passwd:\n{shown[:3000]}"
    assert secrets.file not in shown
    assert_no_secret(secrets, r)


def test_dev_error_page_shows_the_sites_own_lines(h1: Client) -> None:
    """The excerpts are on (so the checks above can fail): an error naming the page's own line shows it."""
    r = h1.get(ATTACKER, "/lua/deverr.lua?target=lua/deverr.lua&line=3")
    assert r.status == 500, why(h1.server, r)
    assert "error(request.query.target" in html.unescape(re.sub(r"<[^>]+>", "", r.text)), r.text[:3000]
