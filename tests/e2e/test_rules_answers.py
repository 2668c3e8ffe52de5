"""What the rules answer by themselves, end to end with curl over HTTP/1.1 and HTTP/2: a `respond` rule's own
body whatever its status, answers without content (204), OPTIONS with Allow, and the spellings of a path that
reach a protected folder all meeting its rule."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests._server import RunningServer, run_dynlan

pytestmark = pytest.mark.e2e

SITE_RULES = """
[[route]]
path = "/gone"
respond = { status = 410, body = "gone for good", content_type = "text/plain; charset=utf-8" }

[[route]]
path = "/hidden/*"
respond = { status = 404, body = "nothing here" }

[[route]]
path = "/empty"
respond = { status = 204 }

[[route]]
path = "/api/*"
methods = ["GET"]

[[route]]
path = "/admin/*"
deny = ["0.0.0.0/0", "::/0"]
"""

VERSIONS = [pytest.param([], id="http1.1"), pytest.param(["--http2-prior-knowledge"], id="h2c")]


def curl_i(url: str, *args: str) -> tuple[int, list[tuple[str, str]], bytes]:
    """Status, header fields (lower-case names, in order, repeats kept) and body of one request."""
    out = subprocess.run(["curl", "-sS", "-i", "--path-as-is", "--max-time", "30", *args, url],
                         capture_output=True, check=True).stdout
    head, _, body = out.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    fields = [(n.strip().lower(), v.strip()) for n, _, v in (line.partition(":") for line in lines[1:])]
    return int(lines[0].split()[1]), fields, body


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    root: Path = tmp_path_factory.mktemp("answers")
    (root / "dynlan.toml").write_text(SITE_RULES)
    (root / "index.html").write_text("home\n")
    for folder in ("admin", "api"):
        (root / folder).mkdir()
        (root / folder / "index.html").write_text(f"{folder} secrets\n")
    (root / "admin" / "page.lua").write_text('print("admin page")\n')
    with run_dynlan(root) as running:
        yield running


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(("path", "status", "body"), [("/gone", 410, b"gone for good"), ("/hidden/x", 404, b"nothing here")])
def test_a_respond_rule_sends_its_own_body_whatever_the_status(server: RunningServer, version: list[str], path: str,
                                                               status: int, body: bytes) -> None:
    got, fields, content = curl_i(server.url + path, *version)
    assert (got, content) == (status, body)
    assert [v for n, v in fields if n == "content-type"] == ["text/plain; charset=utf-8"]  # one, the rule's
    assert [v for n, v in fields if n == "content-length"] == [str(len(body))]


@pytest.mark.parametrize("version", VERSIONS)
def test_no_content_has_no_length_nor_type(server: RunningServer, version: list[str]) -> None:
    status, fields, body = curl_i(server.url + "/empty", *version)
    assert (status, body) == (204, b"")
    assert not {n for n, _ in fields} & {"content-length", "content-type"}  # RFC 9110 §8.6


@pytest.mark.parametrize("version", VERSIONS)
def test_options_and_other_methods_get_allow(server: RunningServer, version: list[str]) -> None:
    status, fields, _ = curl_i(server.url + "/api/", *version, "-X", "OPTIONS")
    assert status == 204 and dict(fields)["allow"] == "GET, HEAD, OPTIONS"
    status, fields, body = curl_i(server.url + "/api/", *version, "-X", "DELETE")
    assert status == 405 and dict(fields)["allow"] == "GET, HEAD, OPTIONS" and b"DELETE" in body
    assert curl_i(server.url + "/api/", *version)[2] == b"api secrets\n"


@pytest.mark.parametrize("path", ["/admin/", "/admin/page", "/adm%69n/", "//admin/page", "/x/../admin/",
                                  "/./admin/page", "/admin%2Fpage", "/%61dmin/index.html", "/admin"])
def test_every_spelling_of_a_denied_folder_is_denied(server: RunningServer, path: str) -> None:
    status, _, body = curl_i(server.url + path)
    assert status == 403, (path, status)  # the rules see the path file routing would resolve
    assert b"secrets" not in body and b"admin page" not in body
    assert curl_i(server.url + "/")[2] == b"home\n"
