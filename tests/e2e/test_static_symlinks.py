"""`[static] symlinks`: inside (default), owner, follow, with real links and a real server.

Links that stay in the site are the site's own in every mode. A link that leads out is followed with `owner`
when the link and its target have the same owner (Apache's SymLinksIfOwnerMatch), and always with `follow`
(Debian packages ship a web application's assets as links into /usr/share). A page reached through a link that
leaves the site never runs unless `follow`. A refused link is a 404, logged with the reason in --dev.
"""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from tests._server import run_dynlan

pytestmark = pytest.mark.e2e


def make_tree(tmp_path: Path, policy: str | None) -> Path:
    outside = tmp_path / "outside"
    (outside / "assets").mkdir(parents=True)
    (outside / "mine.txt").write_text("same owner\n")
    (outside / "assets" / "app.js").write_text("let app = 1;\n")
    (outside / "evil.lua").write_text('print("ran from outside")\n')
    foreign = outside / "foreign.txt"
    if os.geteuid() == 0:
        foreign.write_text("another owner\n")
        os.chown(foreign, 65534, 65534)
    else:
        foreign = Path("/etc/passwd")  # root's: never the test user's
    site = tmp_path / "site"
    (site / "sub").mkdir(parents=True)
    (site / "sub" / "real.txt").write_text("inside\n")
    (site / "inside-link.txt").symlink_to(site / "sub" / "real.txt")
    (site / "mine.txt").symlink_to(outside / "mine.txt")
    (site / "foreign.txt").symlink_to(foreign)
    (site / "assets").symlink_to(outside / "assets")
    (site / "evil.lua").symlink_to(outside / "evil.lua")
    (site / "hello.lua").write_text('print("hello")\n')
    return site


def server_config(policy: str | None) -> str | None:
    # A site may only tighten the policy: owner and follow are the server's to grant.
    return None if policy is None else f'[static]\nsymlinks = "{policy}"\n'


EXPECTED = {
    # path: (inside, owner, follow) statuses
    "/sub/real.txt": (200, 200, 200),
    "/inside-link.txt": (200, 200, 200),
    "/mine.txt": (404, 200, 200),
    "/foreign.txt": (404, 404, 200),
    "/assets/app.js": (404, 200, 200),
    "/hello": (200, 200, 200),
    "/evil": (404, 404, 200),
    "/evil.lua": (404, 404, 200),
}


@pytest.mark.parametrize("policy", [None, "inside", "owner", "follow"])
def test_link_policy(tmp_path: Path, policy: str | None) -> None:
    site = make_tree(tmp_path, policy)
    column = ("inside", "owner", "follow").index(policy or "inside")
    with run_dynlan(site, "--dev", config=server_config(policy)) as server, httpx.Client(base_url=server.url) as client:
        got = {path: client.get(path).status_code for path in EXPECTED}
        assert got == {path: statuses[column] for path, statuses in EXPECTED.items()}
        if column == 2:
            assert client.get("/evil").text == "ran from outside\n"
            assert client.get("/assets/app.js").text == "let app = 1;\n"
        else:
            # Never the page's source, whatever the policy.
            assert "print" not in client.get("/evil.lua").text
        if column == 0:
            log = server.log()  # written (and flushed) before the 404 went out
            assert "404 for /mine.txt" in log and "leads out of the site" in log
            assert "page evil.lua not run" in log


def test_a_site_may_tighten_the_servers_policy(tmp_path: Path) -> None:
    site = make_tree(tmp_path, None)
    (site / "dynlan.toml").write_text('[static]\nsymlinks = "inside"\n')
    with run_dynlan(site, config=server_config("follow")) as server, httpx.Client(base_url=server.url) as client:
        assert client.get("/mine.txt").status_code == 404
        assert client.get("/evil").status_code == 404
        assert client.get("/inside-link.txt").status_code == 200


def test_refused_links_are_not_logged_without_dev(tmp_path: Path) -> None:
    site = make_tree(tmp_path, None)
    with run_dynlan(site, "--no-access-log") as server, httpx.Client(base_url=server.url) as client:
        assert client.get("/mine.txt").status_code == 404
        assert client.get("/hello").text == "hello\n"
        assert "leads out of the site" not in server.log()
