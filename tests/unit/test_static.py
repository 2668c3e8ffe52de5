"""Static-file logic without a server: path resolution, preconditions, ranges."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dynlan import static


@pytest.fixture
def root(tmp_path: Path) -> str:
    site = tmp_path / "site"
    (site / "docs").mkdir(parents=True)
    (site / "_lib").mkdir()
    (site / ".git").mkdir()
    (site / "empty").mkdir()
    (site / "index.html").write_text("home")
    (site / "about.html").write_text("about")
    (site / "docs" / "index.html").write_text("docs")
    (site / "docs" / "a b.txt").write_text("spaced")
    (site / "_lib" / "x.lua").write_text("secret")
    (site / ".git" / "config").write_text("secret")
    (site / ".env").write_text("secret")
    (site / "dynlan.toml").write_text("secret")
    (tmp_path / "outside.txt").write_text("outside")
    os.symlink(tmp_path / "outside.txt", site / "link-out.txt")
    os.symlink(site / "about.html", site / "link-in.html")
    return os.path.realpath(site)


def test_files_index_and_clean_urls(root: str) -> None:
    assert static.resolve(root, "/").fs_path == os.path.join(root, "index.html")
    assert static.resolve(root, "/docs/").fs_path == os.path.join(root, "docs", "index.html")
    assert static.resolve(root, "/docs/a%20b.txt").kind == "file"
    assert static.resolve(root, "/about").fs_path == os.path.join(root, "about.html")
    assert static.resolve(root, "/about", clean_url_suffixes=()).kind == "missing"
    r = static.resolve(root, "/docs")
    assert r.kind == "redirect" and r.redirect_to == "/docs/"
    assert static.resolve(root, "/empty/").kind == "missing"
    assert static.resolve(root, "/empty/", listing=True).kind == "listing"
    assert static.resolve(root, "/link-in.html").kind == "file"


@pytest.mark.parametrize(
    "path", ["/_lib/x.lua", "/.git/config", "/.env", "/dynlan.toml", "/link-out.txt", "/nope", "/%252e%252e/outside.txt"]
)
def test_never_served(root: str, path: str) -> None:
    assert static.resolve(root, path).kind == "missing"


@pytest.mark.parametrize(
    "path",
    ["/../outside.txt", "/%2e%2e/outside.txt", "/docs/%2e%2e/%2e%2e/outside.txt", "/a%2f..%2f..%2foutside.txt",
     "/..%5coutside.txt", "/docs\\..\\..\\outside.txt", "/%00", "/a\x00b", "relative", "/%ff%fe"],
)
def test_traversal_is_refused(root: str, path: str) -> None:
    with pytest.raises(static.StaticError) as info:
        static.resolve(root, path)
    assert info.value.status == 400


def _stat(tmp_path: Path, data: bytes = b"0123456789" * 100) -> tuple[str, os.stat_result]:
    p = tmp_path / "f.txt"
    p.write_bytes(data)
    return str(p), os.stat(p)


def test_plan_full_get_and_head(tmp_path: Path) -> None:
    path, st = _stat(tmp_path)
    plan = static.plan("GET", {}, path, st)
    headers = dict(plan.headers)
    assert plan.status == 200 and headers["content-length"] == "1000"
    assert headers["content-type"] == "text/plain; charset=utf-8"
    assert plan.body == [static.FileSlice(0, 1000)]
    head = static.plan("HEAD", {}, path, st)
    assert head.status == 200 and head.body == [] and dict(head.headers)["content-length"] == "1000"
    assert static.plan("POST", {}, path, st).status == 405


def test_preconditions_in_rfc_order(tmp_path: Path) -> None:
    path, st = _stat(tmp_path)
    full = static.plan("GET", {}, path, st)
    etag, modified = dict(full.headers)["etag"], dict(full.headers)["last-modified"]
    old, future = "Mon, 01 Jan 1990 00:00:00 GMT", "Fri, 01 Jan 2100 00:00:00 GMT"
    cases = [
        ({"if-none-match": etag}, 304),
        ({"if-none-match": f'"x", W/{etag}'}, 304),
        ({"if-none-match": "*"}, 304),
        ({"if-none-match": '"other"'}, 200),
        ({"if-modified-since": modified}, 304),
        ({"if-modified-since": old}, 200),
        ({"if-none-match": '"other"', "if-modified-since": future}, 200),  # INM wins over IMS
        ({"if-match": etag}, 200),
        ({"if-match": '"other"'}, 412),
        ({"if-match": f"W/{etag}"}, 412),  # strong comparison
        ({"if-unmodified-since": old}, 412),
        ({"if-unmodified-since": future}, 200),
        ({"if-match": etag, "if-unmodified-since": old}, 200),  # If-Match wins
        ({"if-match": '"other"', "if-none-match": etag}, 412),  # If-Match first
        ({"if-modified-since": "garbage"}, 200),
    ]
    for headers, status in cases:
        assert static.plan("GET", headers, path, st).status == status, headers
    assert static.plan("HEAD", {"if-none-match": etag}, path, st).status == 304


def _assemble(path: str, plan: static.Plan) -> bytes:
    data = Path(path).read_bytes()
    return b"".join(data[p.offset : p.offset + p.length] if isinstance(p, static.FileSlice) else p for p in plan.body)


def test_ranges(tmp_path: Path) -> None:
    data = bytes(range(256)) * 4
    path, st = _stat(tmp_path, data)
    one = static.plan("GET", {"range": "bytes=10-19"}, path, st)
    assert one.status == 206 and _assemble(path, one) == data[10:20]
    assert dict(one.headers)["content-range"] == "bytes 10-19/1024"
    assert _assemble(path, static.plan("GET", {"range": "bytes=-4"}, path, st)) == data[-4:]
    assert _assemble(path, static.plan("GET", {"range": "bytes=1000-"}, path, st)) == data[1000:]
    assert _assemble(path, static.plan("GET", {"range": "bytes=1000-99999"}, path, st)) == data[1000:]
    multi = static.plan("GET", {"range": "bytes=0-1, 100-101"}, path, st)
    body = _assemble(path, multi)
    assert multi.status == 206 and int(dict(multi.headers)["content-length"]) == len(body)
    boundary = dict(multi.headers)["content-type"].split("boundary=")[1]
    parts = body.split(f"--{boundary}".encode())
    assert parts[-1] == b"--\r\n"
    assert parts[1].endswith(b"\r\n\r\n" + data[0:2] + b"\r\n") and b"content-range: bytes 0-1/1024" in parts[1]
    assert parts[2].endswith(data[100:102] + b"\r\n")
    # Overlapping ranges are coalesced.
    merged = static.plan("GET", {"range": "bytes=0-10,5-20"}, path, st)
    assert merged.status == 206 and _assemble(path, merged) == data[0:21]
    for bad in ("bytes=5000-", "bytes=-0"):
        plan = static.plan("GET", {"range": bad}, path, st)
        assert plan.status == 416 and dict(plan.headers)["content-range"] == "bytes */1024"
    for ignored in ("bytes=5-1", "items=0-1", "bytes=a-b", "bytes=", "bytes=--1", ",".join(["bytes=0-0"] + ["1-1"] * 40)):
        assert static.plan("GET", {"range": ignored}, path, st).status == 200, ignored
    assert static.plan("HEAD", {"range": "bytes=0-1"}, path, st).status == 200


def test_if_range(tmp_path: Path) -> None:
    path, st = _stat(tmp_path)
    full = dict(static.plan("GET", {}, path, st).headers)
    assert static.plan("GET", {"range": "bytes=0-0", "if-range": full["etag"]}, path, st).status == 206
    assert static.plan("GET", {"range": "bytes=0-0", "if-range": '"stale"'}, path, st).status == 200
    assert static.plan("GET", {"range": "bytes=0-0", "if-range": full["last-modified"]}, path, st).status == 206
    assert static.plan("GET", {"range": "bytes=0-0", "if-range": "Mon, 01 Jan 1990 00:00:00 GMT"}, path, st).status == 200


@given(st.text(alphabet="bytes=0123456789-, ", max_size=40), st.integers(min_value=0, max_value=5000))
def test_range_parser_never_escapes_the_file(header: str, size: int) -> None:
    try:
        ranges = static.parse_range(header, size)
    except static.Unsatisfiable:
        return
    if ranges is None:
        return
    assert len(ranges) <= static.MAX_RANGES
    previous_end = -2
    for start, end in ranges:
        assert 0 <= start <= end < size
        assert start > previous_end + 1  # sorted and coalesced
        previous_end = end


def test_mime_and_dates() -> None:
    assert static.mime_type("a.html") == "text/html; charset=utf-8"
    assert static.mime_type("a.js").endswith("javascript; charset=utf-8")
    assert static.mime_type("a.png") == "image/png"
    assert static.mime_type("a.unknownext") == "application/octet-stream"
    assert static.mime_type("a.tar.gz") == "application/octet-stream"
    assert static.parse_http_date(static.http_date(784111777)) == 784111777
    assert static.parse_http_date("not a date") is None


def test_listing_escapes_names(tmp_path: Path) -> None:
    (tmp_path / "<b>.txt").write_text("x")
    (tmp_path / ".hidden").write_text("x")
    (tmp_path / "sub").mkdir()
    html = static.render_listing("/x/", str(tmp_path)).decode()
    assert "&lt;b&gt;.txt" in html and "<b>.txt" not in html and ".hidden" not in html
    assert html.index("sub/") < html.index("&lt;b&gt;.txt")


@pytest.mark.parametrize(
    ("policy", "kind"), [("inside", "missing"), ("owner", "file"), ("follow", "file")],
)
def test_a_link_out_of_the_site_follows_the_policy(root: str, policy: str, kind: str) -> None:
    r = static.resolve(root, "/link-out.txt", symlinks=policy)
    assert r.kind == kind
    assert ("leads out of the site" in r.refused) == (kind == "missing")
    # Links that stay inside are the site's own under every policy.
    assert static.resolve(root, "/link-in.html", symlinks=policy).kind == "file"
    assert static.link_refusal(root, os.path.join(root, "about.html"), policy) is None


@pytest.mark.skipif(os.geteuid() != 0, reason="making a file of another owner needs root")
def test_owner_refuses_a_link_to_another_users_file(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    theirs = tmp_path / "theirs.txt"
    theirs.write_text("not yours")
    os.chown(theirs, 65534, 65534)
    (site / "theirs.txt").symlink_to(theirs)
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "mine.txt").write_text("yours")
    (site / "folder").symlink_to(tmp_path / "folder")
    root = os.path.realpath(site)
    refused = static.link_refusal(root, os.path.join(root, "theirs.txt"), "owner")
    assert refused is not None and "uid 65534" in refused and "theirs.txt" in refused
    assert static.link_refusal(root, os.path.join(root, "folder", "mine.txt"), "owner") is None
    # A link in the way (a linked folder) is judged too: one of another owner is refused.
    os.lchown(site / "folder", 65534, 65534)
    assert static.link_refusal(root, os.path.join(root, "folder", "mine.txt"), "owner") is not None
    assert static.link_refusal(root, os.path.join(root, "theirs.txt"), "follow") is None
