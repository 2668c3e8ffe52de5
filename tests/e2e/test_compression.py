"""Compression owned by the server: negotiated codings, precompressed siblings, pages."""

from __future__ import annotations

import gzip
import subprocess
import urllib.parse
from collections.abc import Iterator

import httpx
import pytest

from dynlan import compression
from tests._server import RunningServer, run_dynlan

pytestmark = pytest.mark.e2e

PAGE = (b"<p>DynLan compresses this page well.</p>\n" * 1600)[:65536]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    root = tmp_path_factory.mktemp("compress")
    (root / "page.html").write_bytes(PAGE)
    (root / "tiny.txt").write_bytes(b"small\n")
    (root / "photo.png").write_bytes(b"\x89PNG" + b"\0" * 5000)
    (root / "app.js").write_bytes(b"console.log('original');\n" * 200)
    (root / "app.js.gz").write_bytes(gzip.compress(b"// from the precompressed sibling\n" * 10))
    (root / "report.lua").write_text('response.headers["content-type"] = "text/plain"\nfor i = 1, 400 do print("line " .. i) end\n')
    (root / "typed.lua").write_text('response.headers["content-type"] = request.query.type\n'
                                    'for i = 1, 400 do print("<line n=\\"" .. i .. "\\"/>") end\n')
    for name in ("data.json", "feed.xml", "logo.svg", "old.js"):
        (root / name).write_bytes(b"<x>repeated text compresses</x>\n" * 200)
    with run_dynlan(root) as s:
        yield s


def raw_get(server: RunningServer, path: str, accept: str | None, extra: dict[str, str] | None = None) -> httpx.Response:
    headers = {"Accept-Encoding": accept} if accept is not None else {"Accept-Encoding": "identity"}
    headers.update(extra or {})
    with httpx.Client() as c:
        request = c.build_request("GET", server.url + path, headers=headers)
        response = c.send(request, stream=True)
        response.read()
        return response


@pytest.mark.parametrize("coding", ["br", "zstd", "gzip"])
def test_static_file_in_each_coding(server: RunningServer, coding: str) -> None:
    r = raw_get(server, "/page.html", coding)
    assert r.headers["content-encoding"] == coding
    assert "accept-encoding" in r.headers["vary"].lower()
    body = r.content  # httpx decodes it
    assert body == PAGE
    identity = raw_get(server, "/page.html", None)
    assert "content-encoding" not in identity.headers and identity.content == PAGE
    assert identity.headers["etag"] != r.headers["etag"]


def test_q_values_pick_the_coding(server: RunningServer) -> None:
    assert raw_get(server, "/page.html", "gzip;q=1, br;q=0.3").headers["content-encoding"] == "gzip"
    assert "content-encoding" not in raw_get(server, "/page.html", "br;q=0, gzip;q=0").headers


def test_conditional_and_range_on_the_encoded_form(server: RunningServer) -> None:
    r = raw_get(server, "/page.html", "gzip")
    assert raw_get(server, "/page.html", "gzip", {"If-None-Match": r.headers["etag"]}).status_code == 304
    with httpx.Client() as c:
        resp = c.get(server.url + "/page.html", headers={"Accept-Encoding": "gzip", "Range": "bytes=0-9"})
        assert resp.status_code == 206 and resp.headers["content-encoding"] == "gzip"
        assert resp.headers["content-range"].startswith("bytes 0-9/")
        assert resp.num_bytes_downloaded == 10


def test_curl_compressed_equals_the_file(server: RunningServer) -> None:
    out = subprocess.run(["curl", "-s", "--compressed", server.url + "/page.html"], capture_output=True, check=True).stdout
    assert out == PAGE


def test_small_and_binary_files_are_sent_as_they_are(server: RunningServer) -> None:
    tiny = raw_get(server, "/tiny.txt", "gzip, br")
    assert "content-encoding" not in tiny.headers and tiny.content == b"small\n"
    png = raw_get(server, "/photo.png", "gzip, br")
    assert "content-encoding" not in png.headers


def test_precompressed_sibling_is_served(server: RunningServer) -> None:
    r = raw_get(server, "/app.js", "gzip")
    assert r.headers["content-encoding"] == "gzip"
    assert "javascript" in r.headers["content-type"]
    assert r.content == b"// from the precompressed sibling\n" * 10
    br = raw_get(server, "/app.js", "br")  # no .br sibling: compressed on the fly from the original
    assert br.headers["content-encoding"] == "br" and br.content == b"console.log('original');\n" * 200


def test_pages_are_compressed(server: RunningServer) -> None:
    expected = "".join(f"line {i}\n" for i in range(1, 401)).encode()
    for coding in ("gzip", "br", "zstd"):
        r = raw_get(server, "/report", coding)
        assert r.headers["content-encoding"] == coding and r.content == expected
        assert int(r.headers["content-length"]) < len(expected)
    plain = raw_get(server, "/report", None)
    assert "content-encoding" not in plain.headers and plain.content == expected


@pytest.mark.parametrize("media", [
    "application/javascript", "application/x-javascript", "application/json", "application/problem+json",
    "application/xml", "application/atom+xml", "image/svg+xml",
])
def test_pages_of_script_json_xml_and_svg_types_are_compressed(server: RunningServer, media: str) -> None:
    expected = "".join(f'<line n="{i}"/>\n' for i in range(1, 401)).encode()
    r = raw_get(server, f"/typed?type={urllib.parse.quote(media, safe='/')}", "gzip")
    assert r.headers["content-type"] == media
    assert r.headers["content-encoding"] == "gzip" and r.content == expected
    assert "accept-encoding" in r.headers["vary"].lower()


@pytest.mark.parametrize("name", ["data.json", "feed.xml", "logo.svg", "old.js"])
def test_static_json_xml_svg_and_scripts_are_compressed(server: RunningServer, name: str) -> None:
    r = raw_get(server, f"/{name}", "gzip")
    assert r.headers["content-encoding"] == "gzip"
    assert r.content == b"<x>repeated text compresses</x>\n" * 200


def test_decompress_helper_matches() -> None:
    assert compression.decompress(compression.compress(PAGE, "br"), "br") == PAGE
