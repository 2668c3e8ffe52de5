"""Site rules (`[[route]]`): the matcher, table by table: precedence, prefixes, methods, placeholders, rewrites,
client addresses, credentials, header edits, answers, config errors, and the client's address behind proxies."""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import time
import tomllib
from typing import Any

import bcrypt
import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from dynlan.app._router import Router
from dynlan.app._rules import (
    MAX_REWRITES,
    HeaderEdits,
    Outcome,
    Rules,
    canonical_path,
    client_address,
    compile_rules,
    parse_networks,
)
from dynlan.config import ConfigError
from dynlan.http import Headers
from dynlan.static import StaticError, decode_path

PASSWORD = "s3cret: with colon"
HASH = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()
"""Cost 4: the lowest bcrypt allows, so the table runs fast; the code path is the one of cost 12."""


def rules(text: str, source: str = "site/dynlan.toml") -> Rules:
    return compile_rules(tomllib.loads(text).get("route", []), source)


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


async def ask(r: Rules, path: str = "/", method: str = "GET", query: str = "", host: str = "a.test",
              client: str = "203.0.113.9", headers: dict[str, str] | None = None) -> Outcome:
    return await r.evaluate(method, path, query, host, client, Headers((headers or {}).items()))


def check(outcome: Outcome, want: dict[str, Any]) -> None:
    """`want`: status (default 0), path, query, body, headers (a subset, by name), message (a fragment)."""
    assert outcome.status == want.get("status", 0), outcome
    if "path" in want:
        assert outcome.path == want["path"], outcome
    if "query" in want:
        assert outcome.query == want["query"], outcome
    if "body" in want:
        assert outcome.body == want["body"], outcome
    for name, value in want.get("headers", {}).items():
        assert dict(outcome.headers).get(name) == value, outcome
    if "message" in want:
        assert want["message"] in outcome.message, outcome


# -- which rule: precedence and prefixes -------------------------------------------------------------------------

PRECEDENCE = """
[[route]]
path = "/a/*"
respond = { body = "prefix /a" }
[[route]]
path = "/a/b/*"
respond = { body = "prefix /a/b" }
[[route]]
path = "/a/b/c"
respond = { body = "exact /a/b/c" }
[[route]]
path = "/a/b/*"
respond = { body = "prefix /a/b, written second" }
[[route]]
path = "/*"
respond = { body = "everything" }
[[route]]
path = "/caf\u00e9/*"
respond = { body = "cafe" }
"""


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/a/b/c", "exact /a/b/c"),  # exact before any prefix
        ("/a/b/d", "prefix /a/b"),  # the longest prefix; of two equal ones, the first written
        ("/a/b/c/d", "prefix /a/b"),
        ("/a/b/c/", "prefix /a/b"),  # the trailing slash is part of an exact path
        ("/a/b", "prefix /a/b"),  # "/x/*" takes "/x" itself too
        ("/a/b/", "prefix /a/b"),
        ("/a/x", "prefix /a"),
        ("/a", "prefix /a"),
        ("/ab", "everything"),  # a prefix is whole segments: "/a/*" does not take "/ab"
        ("/", "everything"),
        ("/zzz/y", "everything"),
        # Matched on the path file routing resolves: decoded once, `//`, `.` and `..` collapsed.
        ("/a/b/%63", "exact /a/b/c"),
        ("//a//b/c", "exact /a/b/c"),
        ("/a/./b/c", "exact /a/b/c"),
        ("/x/../a/b/c", "exact /a/b/c"),
        ("/../../a/b/c", "exact /a/b/c"),
        ("/a%2Fb/c", "exact /a/b/c"),  # the router decodes %2F to a slash as well
        ("/caf%C3%A9/menu", "cafe"),
        ("/A/b/c", "everything"),  # paths are case-sensitive
    ],
)
async def test_the_most_specific_rule_answers(path: str, body: str) -> None:
    check(await ask(rules(PRECEDENCE), path), {"status": 200, "body": body.encode()})


async def test_the_sites_rules_come_before_the_servers_at_equal_specificity() -> None:
    site = rules('[[route]]\npath = "/x/*"\nrespond = { body = "site" }\n')
    server = rules('[[route]]\npath = "/x/*"\nrespond = { body = "server" }\n'
                   '[[route]]\npath = "/x/y"\nrespond = { body = "server, exact" }\n', "server.toml")
    both = site.then(server)
    check(await ask(both, "/x/z"), {"status": 200, "body": b"site"})
    check(await ask(both, "/x/y"), {"status": 200, "body": b"server, exact"})  # more specific wins first
    assert [line.split("  ")[0] for line in both.describe()] == ["/x/y", "/x/*", "/x/*"]
    assert both.describe()[1].endswith("(site/dynlan.toml: route[0])")
    assert both.describe()[2].endswith("(server.toml: route[0])")


@pytest.mark.parametrize("path", ["/b", "/a", "/b/a/x", "/static/file4k.bin", "*", "/%ff"])
async def test_a_path_no_rule_names_goes_on_unchanged(path: str) -> None:
    r = rules('[[route]]\npath = "/a/x"\nrespond = {}\n[[route]]\npath = "/a/y/*"\nrespond = {}\n')
    outcome = await ask(r, path, query="q=1")
    if path == "/%ff":
        check(outcome, {"status": 400, "message": "UTF-8"})
    else:
        check(outcome, {"status": 0, "path": path, "query": "q=1"})
        assert outcome.edits is None


async def test_a_host_matcher_narrows_a_rule() -> None:
    r = rules('[[route]]\npath = "/*"\nhost = ["a.test", "*.b.test"]\nrespond = { body = "hosted" }\n')
    for host, hit in [("a.test", True), ("A.TEST:8080", True), ("x.b.test", True), ("b.test", False),
                      ("y.x.b.test", False), ("c.test", False), ("", False)]:
        check(await ask(r, "/p", host=host), {"status": 200} if hit else {"status": 0, "path": "/p"})


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [("/", "/"), ("/a/b", "/a/b"), ("/a/b/", "/a/b/"), ("//a", "/a"), ("/a/.", "/a/"), ("/a/..", "/"),
     ("/..", "/"), ("/a/%2e%2e/b", "/b"), ("/%7Euser", "/~user"), ("/a%00", None), ("/%c3", None)],
)
def test_canonical_path(raw: str, canonical: str | None) -> None:
    assert canonical_path(raw) == canonical


# -- methods -----------------------------------------------------------------------------------------------------

METHODS = """
[[route]]
path = "/api/*"
methods = ["GET", "POST"]
[[route]]
path = "/api/read/*"
methods = ["GET"]
"""


@pytest.mark.parametrize(
    ("method", "path", "want"),
    [
        ("GET", "/api/x", {"status": 0}),
        ("HEAD", "/api/x", {"status": 0}),  # HEAD goes with GET
        ("POST", "/api/x", {"status": 0}),
        ("DELETE", "/api/x", {"status": 405, "headers": {"allow": "GET, HEAD, OPTIONS, POST"}, "message": "DELETE"}),
        ("OPTIONS", "/api/x", {"status": 204, "headers": {"allow": "GET, HEAD, OPTIONS, POST"}}),
        # Every matching rule's methods must allow it: the more specific one narrows.
        ("POST", "/api/read/x", {"status": 405, "headers": {"allow": "GET, HEAD, OPTIONS"}}),
        ("GET", "/api/read/x", {"status": 0}),
        ("get", "/api/x", {"status": 405}),  # method names are case-sensitive (RFC 9110 §9.1)
        ("DELETE", "/other", {"status": 0}),
    ],
)
async def test_methods(method: str, path: str, want: dict[str, Any]) -> None:
    check(await ask(rules(METHODS), path, method), want)


# -- placeholders and redirects ----------------------------------------------------------------------------------

REDIRECTS = """
[[route]]
path = "/old/*"
redirect = "/new/{path}"
status = 308
[[route]]
path = "/search/*"
redirect = "/find?q={path}&{query}"
[[route]]
path = "/secure/*"
redirect = "https://{host}/{path}"
status = 301
[[route]]
path = "/login-first/*"
redirect = "/login?next={uri}"
[[route]]
path = "/bounce"
redirect = "/{query}"
[[route]]
path = "/r/*"
redirect = "/{path}"
[[route]]
path = "/elsewhere"
redirect = "https://example.org/landing"
[[route]]
path = "/anchored/*"
redirect = "/new/{path}#top"
"""


@pytest.mark.parametrize(
    ("path", "query", "host", "want"),
    [
        ("/old/a/b", "", "a.test", {"status": 308, "headers": {"location": "/new/a/b"}}),
        ("/old", "", "a.test", {"status": 308, "headers": {"location": "/new/"}}),
        ("/old/", "", "a.test", {"status": 308, "headers": {"location": "/new/"}}),
        ("/old/a", "x=1&y=2", "a.test", {"status": 308, "headers": {"location": "/new/a?x=1&y=2"}}),  # query kept
        ("/old/a%20b", "", "a.test", {"status": 308, "headers": {"location": "/new/a%20b"}}),
        ("/old/caf%C3%A9", "", "a.test", {"status": 308, "headers": {"location": "/new/caf%C3%A9"}}),
        # Decoded, then encoded again: no CR, LF or `?` of the path reaches the Location as it is.
        ("/old/a%0D%0ASet-Cookie:x=1", "", "a.test",
         {"status": 308, "headers": {"location": "/new/a%0D%0ASet-Cookie:x=1"}}),
        ("/old/a%3Fb%23c%25", "", "a.test", {"status": 308, "headers": {"location": "/new/a%3Fb%23c%25"}}),
        ("/old/a%5Cb", "", "a.test", {"status": 308, "headers": {"location": "/new/a%5Cb"}}),
        ("/search/term", "page=2", "a.test", {"status": 307, "headers": {"location": "/find?q=term&page=2"}}),
        ("/search/term", "", "a.test", {"status": 307, "headers": {"location": "/find?q=term&"}}),
        ("/secure/x", "", "A.Test:8080", {"status": 301, "headers": {"location": "https://a.test/x"}}),
        ("/secure/x", "a=1", "[::1]:8443", {"status": 301, "headers": {"location": "https://[::1]/x?a=1"}}),
        ("/secure/x", "", "evil.example/p?", {"status": 400, "message": "Host"}),
        ("/secure/x", "", "", {"status": 400}),
        ("/login-first/p", "a=1", "a.test", {"status": 307, "headers": {"location": "/login?next=/login-first/p?a=1"}}),
        # A placeholder bringing slashes cannot make a local redirect leave the site (open redirect).
        ("/bounce", "/evil.example", "a.test", {"status": 307, "headers": {"location": "/evil.example"}}),
        ("/bounce", "//evil.example", "a.test", {"status": 307, "headers": {"location": "/evil.example"}}),
        ("/r//evil.example", "", "a.test", {"status": 307, "headers": {"location": "/evil.example"}}),
        ("/r/%2F%2Fevil.example", "", "a.test", {"status": 307, "headers": {"location": "/evil.example"}}),
        ("/bounce", "a\r\nb", "a.test", {"status": 307, "headers": {"location": "/a%0D%0Ab"}}),
        ("/elsewhere", "", "a.test", {"status": 307, "headers": {"location": "https://example.org/landing"}}),
        ("/anchored/a", "x=1", "a.test", {"status": 307, "headers": {"location": "/new/a#top"}}),  # the fragment last
    ],
)
async def test_redirects(path: str, query: str, host: str, want: dict[str, Any]) -> None:
    check(await ask(rules(REDIRECTS), path, query=query, host=host), want)


# -- rewrites ----------------------------------------------------------------------------------------------------

REWRITES = """
[[route]]
path = "/docs/*"
rewrite = "/manual/{path}"
[[route]]
path = "/manual/*"
headers = { set = { "x-from" = "manual" } }
[[route]]
path = "/find/*"
rewrite = "/search.lua?q={path}"
[[route]]
path = "/loop-a/*"
rewrite = "/loop-b/{path}"
[[route]]
path = "/loop-b/*"
rewrite = "/loop-a/{path}"
[[route]]
path = "/self"
rewrite = "/self"
[[route]]
path = "/hidden/*"
rewrite = "/private/{path}"
[[route]]
path = "/private/*"
allow = ["127.0.0.1"]
[[route]]
path = "/to-ping"
rewrite = "/ping"
[[route]]
path = "/ping"
respond = { body = "pong" }
"""


@pytest.mark.parametrize(
    ("path", "query", "want"),
    [
        ("/docs/a/b", "v=1", {"status": 0, "path": "/manual/a/b", "query": "v=1"}),  # the query goes along
        ("/docs", "", {"status": 0, "path": "/manual/", "query": ""}),
        ("/docs/a%20b", "", {"status": 0, "path": "/manual/a%20b"}),
        ("/find/x%26y", "old=1", {"status": 0, "path": "/search.lua", "query": "q=x&y"}),
        ("/to-ping", "", {"status": 200, "body": b"pong"}),  # a rewrite's target is matched again
        ("/hidden/x", "", {"status": 403}),  # and its checks hold
        ("/loop-a/x", "", {"status": 500, "message": f"more than {MAX_REWRITES} rewrites", "path": "/loop-a/x"}),
        ("/self", "", {"status": 500, "message": "rewrite loop"}),
    ],
)
async def test_rewrites(path: str, query: str, want: dict[str, Any]) -> None:
    check(await ask(rules(REWRITES), path, query=query), want)


async def test_a_rewrites_header_edits_come_along() -> None:
    outcome = await ask(rules(REWRITES), "/docs/a")
    assert outcome.edits is not None and outcome.edits.apply([("x-a", "1")]) == [("x-a", "1"), ("x-from", "manual")]


# -- client addresses --------------------------------------------------------------------------------------------

ACCESS = """
[[route]]
path = "/local/*"
allow = ["127.0.0.0/8", "::1"]
[[route]]
path = "/public/*"
deny = ["10.0.0.0/8", "2001:db8::/32"]
[[route]]
path = "/office/*"
allow = ["10.0.0.0/8"]
deny = ["10.0.0.66"]
[[route]]
path = "/office/boss/*"
allow = ["10.1.0.0/16"]
"""


@pytest.mark.parametrize(
    ("path", "client", "status"),
    [
        ("/local/x", "127.0.0.1", 0), ("/local/x", "127.9.9.9", 0), ("/local/x", "::1", 0),
        ("/local/x", "::ffff:127.0.0.1", 0),  # an IPv4 client on a dual-stack socket
        ("/local/x", "10.0.0.1", 403), ("/local/x", "2001:db8::1", 403), ("/local/x", "", 403),
        ("/local/x", "not an address", 403), ("/local", "10.0.0.1", 403),
        ("/public/x", "192.0.2.1", 0), ("/public/x", "10.1.2.3", 403), ("/public/x", "::ffff:10.0.0.1", 403),
        ("/public/x", "2001:db8:1::5", 403), ("/public/x", "", 0),
        ("/office/x", "10.0.0.1", 0), ("/office/x", "10.0.0.66", 403), ("/office/x", "192.0.2.1", 403),
        ("/office/boss/x", "10.1.2.3", 0), ("/office/boss/x", "10.2.0.1", 403),  # every rule's checks hold
    ],
)
async def test_allow_and_deny(path: str, client: str, status: int) -> None:
    check(await ask(rules(ACCESS), path, client=client), {"status": status})


async def test_a_site_rule_cannot_lift_a_server_rules_check() -> None:
    site = rules('[[route]]\npath = "/admin/*"\nallow = ["0.0.0.0/0", "::/0"]\n')
    server = rules('[[route]]\npath = "/*"\ndeny = ["192.0.2.0/24"]\n', "server.toml")
    both = site.then(server)
    check(await ask(both, "/admin/x", client="192.0.2.7"), {"status": 403})
    check(await ask(both, "/admin/x", client="198.51.100.7"), {"status": 0})


def test_a_mapped_block_is_its_ipv4_block() -> None:
    assert parse_networks(["::ffff:10.0.0.0/104"], "x") == [ipaddress.ip_network("10.0.0.0/8")]


# -- basic auth --------------------------------------------------------------------------------------------------

AUTH = f"""
[[route]]
path = "/admin/*"
basic_auth = {{ realm = "admin area", users = {{ alice = "{HASH}" }} }}
allow = ["127.0.0.0/8"]
methods = ["GET"]
"""


@pytest.mark.parametrize(
    ("authorization", "status"),
    [
        (basic("alice", PASSWORD), 0),
        (basic("alice", PASSWORD).replace("Basic", "bAsIc"), 0),  # the scheme is case-insensitive (RFC 9110 §11.1)
        (None, 401),
        (basic("alice", "wrong"), 401),
        (basic("bob", PASSWORD), 401),  # an unknown user
        (basic("alice", PASSWORD + "x"), 401),
        ("Basic !!!not base64", 401),
        ("Basic " + base64.b64encode(b"no colon").decode(), 401),
        ("Basic " + base64.b64encode(b"alice:\xff").decode(), 401),  # not UTF-8
        ("Bearer abc", 401),
        ("Basic", 401),
        ("", 401),
    ],
)
async def test_basic_auth(authorization: str | None, status: int) -> None:
    headers = {} if authorization is None else {"authorization": authorization}
    outcome = await ask(rules(AUTH), "/admin/x", client="127.0.0.1", headers=headers)
    want: dict[str, Any] = {"status": status}
    if status == 401:
        want["headers"] = {"www-authenticate": 'Basic realm="admin area", charset="UTF-8"'}
    check(outcome, want)
    assert outcome.is_error == (status == 401)


async def test_htpasswd_hashes_work() -> None:
    # `htpasswd -B` and PHP's password_hash write `$2y$`: the same algorithm under another name.
    r = rules(f'[[route]]\npath = "/*"\nbasic_auth = {{ users = {{ alice = "$2y${HASH[4:]}" }} }}\n')
    check(await ask(r, headers={"authorization": basic("alice", PASSWORD)}), {"status": 0})
    check(await ask(r, headers={"authorization": basic("alice", "nope")}), {"status": 401})


async def test_a_hash_the_library_cannot_read_matches_no_password() -> None:
    # The shape is right (it passes the config check), the salt does not decode: 401, not a failing request.
    odd = HASH[:7] + "z" * 22 + HASH[29:]
    r = rules(f'[[route]]\npath = "/*"\nbasic_auth = {{ users = {{ alice = "{odd}" }} }}\n')
    check(await ask(r, headers={"authorization": basic("alice", PASSWORD)}), {"status": 401})


async def test_the_address_is_checked_before_credentials_and_credentials_before_the_method() -> None:
    r = rules(AUTH)
    good = {"authorization": basic("alice", PASSWORD)}
    check(await ask(r, "/admin/x", client="10.0.0.1", headers=good), {"status": 403})
    check(await ask(r, "/admin/x", "POST", client="10.0.0.1"), {"status": 403})
    check(await ask(r, "/admin/x", "POST", client="127.0.0.1"), {"status": 401})
    check(await ask(r, "/admin/x", "POST", client="127.0.0.1", headers=good), {"status": 405})


async def test_a_password_check_leaves_the_event_loop_serving_and_is_remembered() -> None:
    slow = bcrypt.hashpw(b"pw", bcrypt.gensalt(12)).decode()
    r = rules(f'[[route]]\npath = "/*"\nbasic_auth = {{ users = {{ u = "{slow}" }} }}\n')
    headers = {"authorization": basic("u", "pw")}
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await trio.sleep(0)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(tick)
        started = time.perf_counter()
        check(await ask(r, headers=headers), {"status": 0})
        first = time.perf_counter() - started
        nursery.cancel_scope.cancel()
    assert ticks > 10  # the loop ran other tasks while bcrypt worked in a thread
    started = time.perf_counter()
    for _ in range(20):
        check(await ask(r, headers=headers), {"status": 0})
    assert time.perf_counter() - started < first  # twenty requests cost less than one bcrypt check
    check(await ask(r, headers={"authorization": basic("u", "other")}), {"status": 401})


# -- header edits and answers ------------------------------------------------------------------------------------

HEADERS = """
[[route]]
path = "/*"
headers = { set = { "x-frame-options" = "DENY", "cache-control" = "public" }, remove = ["x-powered-by"] }
[[route]]
path = "/static/*"
headers = { set = { "Cache-Control" = "max-age=60" }, add = { link = ["</a.css>; rel=preload", "</b.js>; rel=preload"] } }
[[route]]
path = "/static/raw/*"
headers = { remove = ["x-frame-options", "link"] }
"""


@pytest.mark.parametrize(
    ("path", "result"),
    [
        ("/page", [("content-type", "text/html"), ("x-frame-options", "DENY"), ("cache-control", "public")]),
        ("/static/a.css", [("content-type", "text/html"), ("x-frame-options", "DENY"), ("cache-control", "max-age=60"),
                           ("link", "</a.css>; rel=preload"), ("link", "</b.js>; rel=preload")]),
        ("/static/raw/a", [("content-type", "text/html"), ("cache-control", "max-age=60")]),
    ],
)
async def test_header_edits_apply_least_specific_first(path: str, result: list[tuple[str, str]]) -> None:
    outcome = await ask(rules(HEADERS), path)
    check(outcome, {"status": 0, "path": path})
    assert outcome.edits is not None
    response = [("content-type", "text/html"), ("X-Powered-By", "php"), ("Cache-Control", "private")]
    assert outcome.edits.apply(response) == result


def test_header_edits_compose() -> None:
    first = HeaderEdits(frozenset({"a"}), (("a", "1"), ("b", "2")))
    second = HeaderEdits(frozenset({"b"}), (("c", "3"),))
    start = [("a", "0"), ("b", "0"), ("d", "0")]
    assert first.then(second).apply(start) == second.apply(first.apply(start)) == [("d", "0"), ("a", "1"), ("c", "3")]
    assert not HeaderEdits()


async def test_edits_come_with_the_rules_own_answers() -> None:
    r = rules('[[route]]\npath = "/*"\nheaders = { set = { "x-a" = "1" } }\n'
              '[[route]]\npath = "/gone"\nrespond = { status = 410, body = "gone", content_type = "text/html" }\n')
    outcome = await ask(r, "/gone")
    check(outcome, {"status": 410, "body": b"gone", "headers": {"content-type": "text/html"}})
    assert not outcome.is_error  # the rule's own body, not the site's error page
    assert outcome.edits is not None and outcome.edits.apply([]) == [("x-a", "1")]
    assert outcome.rule == "site/dynlan.toml: route[1]"


async def test_a_proxied_path_is_remembered_only_when_nothing_else_is_checked() -> None:
    r = rules('''
[[route]]
path = "/api/*"
proxy = { upstreams = ["http://127.0.0.1:9001"], strip_prefix = true }
[[route]]
path = "/admin/*"
methods = ["GET"]
allow = ["203.0.113.0/24"]
proxy = { upstreams = ["http://127.0.0.1:9002"] }
''')
    for query in ("", "a=1", "b=2"):
        outcome = await ask(r, "/api/v1/x", query=query)
        assert outcome.proxy is not None and outcome.target == "/v1/x" + ("?" + query if query else ""), outcome
    # The second and later requests for an /admin path are checked like the first.
    assert (await ask(r, "/admin/x")).proxy is not None
    check(await ask(r, "/admin/x", method="POST"), {"status": 405})
    check(await ask(r, "/admin/x", client="198.51.100.7"), {"status": 403})
    assert (await ask(r, "/admin/x")).target == "/admin/x"


async def test_respond_defaults() -> None:
    outcome = await ask(rules('[[route]]\npath = "/ping"\nrespond = { body = "pong" }\n'), "/ping", "HEAD")
    check(outcome, {"status": 200, "body": b"pong", "headers": {"content-type": "text/plain; charset=utf-8"}})
    outcome = await ask(rules('[[route]]\npath = "/ping"\nrespond = { status = 204 }\n'), "/ping")
    check(outcome, {"status": 204, "body": b""})
    assert outcome.headers == []


# -- config errors -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('path = "/x"\nrespond = {}\nfoo = 1', "route[0]: unknown key 'foo'"),
        ("respond = {}", "route[0]: no path"),
        ('path = "x"\nrespond = {}', "route[0].path"),
        ('path = 3\nrespond = {}', "route[0].path"),
        ('path = "/x*"\nrespond = {}', "route[0].path"),
        ('path = "/*/x"\nrespond = {}', "route[0].path"),
        ('path = "/a//b"\nrespond = {}', "route[0].path"),
        ('path = "/a/../b"\nrespond = {}', "route[0].path"),
        ('path = "/a/./b"\nrespond = {}', "route[0].path"),
        ('path = "/a?b"\nrespond = {}', "route[0].path"),
        ('path = "/a\\nb"\nrespond = {}', "route[0].path"),
        ('path = "/%ff"\nrespond = {}', "route[0].path"),
        ('path = "/x"', "route[0]: the rule does nothing"),
        ('path = "/x"\nredirect = "/y"\nstatus = 200', "route[0].status"),
        ('path = "/x"\nredirect = "/y"\nstatus = "301"', "route[0].status"),
        ('path = "/x"\nredirect = "/y"\nstatus = true', "route[0].status"),
        ('path = "/x"\nrespond = {}\nstatus = 301', "route[0].status"),
        ('path = "/x"\nredirect = ""', "route[0].redirect"),
        ('path = "/x"\nredirect = 3', "route[0].redirect"),
        ('path = "/x"\nredirect = "evil.example/x"', "route[0].redirect"),
        ('path = "/x"\nredirect = "//evil.example/x"', "route[0].redirect"),
        ('path = "/x"\nredirect = "javascript:alert(1)"', "route[0].redirect"),
        ('path = "/x"\nredirect = "https://{path}"', "route[0].redirect"),
        ('path = "/x"\nredirect = "https://{host}{path}"', "route[0].redirect"),
        ('path = "/x"\nredirect = "https:///x"', "route[0].redirect"),
        ('path = "/x"\nredirect = "{path}"', "route[0].redirect"),
        ('path = "/x"\nredirect = "/y/{nope}"', "route[0].redirect: unknown placeholder {nope}"),
        ('path = "/x"\nredirect = "/y/{path"', "route[0].redirect"),
        ('path = "/x"\nredirect = "/a b"', "route[0].redirect"),
        ('path = "/x"\nredirect = "/a\\\\b"', "route[0].redirect"),
        ('path = "/x"\nredirect = "/caf\u00e9"', "route[0].redirect"),
        ('path = "/x"\nredirect = "/y"\nrewrite = "/z"', "route[0]: redirect and rewrite in one rule"),
        ('path = "/x"\nrewrite = "/z"\nrespond = {}', "route[0]: rewrite and respond in one rule"),
        ('path = "/x"\nrewrite = "https://example.org/"', "route[0].rewrite"),
        ('path = "/x"\nrewrite = "z"', "route[0].rewrite"),
        ('path = "/x"\nrewrite = "/z#top"', "route[0].rewrite"),
        ('path = "/x"\nredirect = "https://#x"', "route[0].redirect"),
        ('path = "/x"\nmethods = ["get"]', "route[0].methods[0]"),
        ('path = "/x"\nmethods = ["GET", "BAD METHOD"]', "route[0].methods[1]"),
        ('path = "/x"\nmethods = []', "route[0].methods"),
        ('path = "/x"\nmethods = "GET"', "route[0].methods"),
        ('path = "/x"\nallow = ["10.0.0.0/33"]', "route[0].allow[0]"),
        ('path = "/x"\nallow = ["10.0.0.1/8"]', "route[0].allow[0]"),
        ('path = "/x"\ndeny = ["localhost"]', "route[0].deny[0]"),
        ('path = "/x"\nallow = "10.0.0.0/8"', "route[0].allow"),
        ('path = "/x"\nbasic_auth = { users = { alice = "plain text" } }', "route[0].basic_auth.users.alice"),
        ('path = "/x"\nbasic_auth = { users = { alice = "$1$abc$0123456789012345678901" } }',
         "route[0].basic_auth.users.alice"),
        (f'path = "/x"\nbasic_auth = {{ users = {{ alice = "$2${HASH[4:]}" }} }}', "route[0].basic_auth.users.alice"),
        ('path = "/x"\nbasic_auth = { users = {} }', "route[0].basic_auth.users"),
        ('path = "/x"\nbasic_auth = { realm = "a" }', "route[0].basic_auth.users"),
        (f'path = "/x"\nbasic_auth = {{ realm = "a\\"b", users = {{ u = "{HASH}" }} }}', "route[0].basic_auth.realm"),
        (f'path = "/x"\nbasic_auth = {{ users = {{ "a:b" = "{HASH}" }} }}', "route[0].basic_auth.users.a:b"),
        (f'path = "/x"\nbasic_auth = {{ users = {{ u = "{HASH}" }}, extra = 1 }}', "route[0].basic_auth: unknown key"),
        ('path = "/x"\nbasic_auth = "alice"', "route[0].basic_auth"),
        ('path = "/x"\nheaders = { set = { "content-length" = "0" } }', "route[0].headers.set.content-length"),
        ('path = "/x"\nheaders = { set = { "Transfer-Encoding" = "chunked" } }', "route[0].headers.set.Transfer-Encoding"),
        ('path = "/x"\nheaders = { set = { "x-a" = "a\\r\\nset-cookie: b" } }', "route[0].headers.set.x-a"),
        ('path = "/x"\nheaders = { set = { "x a" = "b" } }', "route[0].headers.set.x a"),
        ('path = "/x"\nheaders = { set = { "x-a" = ["1", "2"] } }', "route[0].headers.set.x-a"),
        ('path = "/x"\nheaders = { add = { "x-a" = 1 } }', "route[0].headers.add.x-a"),
        ('path = "/x"\nheaders = { remove = ["bad name"] }', "route[0].headers.remove[0]"),
        ('path = "/x"\nheaders = { remove = "x-a" }', "route[0].headers.remove"),
        ('path = "/x"\nheaders = { replace = {} }', "route[0].headers: unknown key 'replace'"),
        ('path = "/x"\nrespond = { status = 99 }', "route[0].respond.status"),
        ('path = "/x"\nrespond = { status = 1000 }', "route[0].respond.status"),
        ('path = "/x"\nrespond = { status = 204, body = "x" }', "route[0].respond.body"),
        ('path = "/x"\nrespond = { content_type = "a\\nb" }', "route[0].respond.content_type"),
        ('path = "/x"\nrespond = { code = 200 }', "route[0].respond: unknown key 'code'"),
        ('path = "/x"\nrespond = "pong"', "route[0].respond"),
        ('path = "/x"\nhost = "bad host"\nrespond = {}', "route[0].host[0]"),
        ('path = "/x"\nhost = []\nrespond = {}', "route[0].host"),
    ],
)
def test_config_errors_name_the_file_and_key(text: str, where: str) -> None:
    with pytest.raises(ConfigError) as info:
        rules(f"[[route]]\n{text}\n")
    assert str(info.value).startswith(f"site/dynlan.toml: {where}"), str(info.value)


def test_an_error_names_its_rule_by_position() -> None:
    with pytest.raises(ConfigError, match=r"^s\.toml: route\[1\]\.status"):
        rules('[[route]]\npath = "/a"\nrespond = {}\n[[route]]\npath = "/b"\nredirect = "/c"\nstatus = 304\n', "s.toml")
    with pytest.raises(ConfigError, match=r"^s\.toml: route\[0\]: expected a table"):
        compile_rules([1], "s.toml")  # type: ignore[list-item]


def test_describe_lists_rules_in_evaluation_order() -> None:
    lines = rules(PRECEDENCE + f"""
[[route]]
path = "/admin/*"
allow = ["127.0.0.0/8"]
basic_auth = {{ realm = "admin", users = {{ alice = "{HASH}" }} }}
methods = ["GET"]
headers = {{ remove = ["server"] }}
""").describe()
    assert [line.split("  ")[0] for line in lines] == ["/a/b/c", "/admin/*", "/caf\u00e9/*", "/a/b/*", "/a/b/*", "/a/*", "/*"]
    admin = lines[1]
    assert "allow 127.0.0.0/8" in admin and "basic_auth 'admin' (1 users)" in admin and "methods GET,HEAD" in admin
    assert "headers server" in admin
    assert admin.endswith("(site/dynlan.toml: route[6])")
    assert "-> respond 200" in lines[0]
    assert not rules("") and len(rules(PRECEDENCE)) == 6


# -- the client's address behind proxies -------------------------------------------------------------------------

TRUSTED = parse_networks(["10.0.0.0/8", "::1"], "server.trusted_proxies")


@pytest.mark.parametrize(
    ("peer", "headers", "client"),
    [
        # From a peer that is no trusted proxy the headers are the client's own words: ignored.
        ("203.0.113.5", [("x-forwarded-for", "127.0.0.1")], "203.0.113.5"),
        ("203.0.113.5", [("forwarded", "for=127.0.0.1")], "203.0.113.5"),
        ("10.0.0.2", [], "10.0.0.2"),
        ("10.0.0.2", [("x-forwarded-for", "198.51.100.7")], "198.51.100.7"),
        # What the client wrote itself stands left of what the proxy added: not believed.
        ("10.0.0.2", [("x-forwarded-for", "127.0.0.1, 198.51.100.7")], "198.51.100.7"),
        ("10.0.0.2", [("x-forwarded-for", "198.51.100.7, 10.0.0.3")], "198.51.100.7"),  # through two proxies
        ("10.0.0.2", [("x-forwarded-for", "10.0.0.4, 10.0.0.3")], "10.0.0.4"),
        ("10.0.0.2", [("x-forwarded-for", "127.0.0.1"), ("x-forwarded-for", "198.51.100.7")], "198.51.100.7"),
        ("10.0.0.2", [("x-forwarded-for", "198.51.100.7:1234")], "198.51.100.7"),
        ("10.0.0.2", [("x-forwarded-for", "[2001:db8::1]:443")], "2001:db8::1"),
        ("10.0.0.2", [("x-forwarded-for", "2001:db8::1")], "2001:db8::1"),
        ("10.0.0.2", [("x-forwarded-for", "::ffff:198.51.100.7")], "198.51.100.7"),
        ("10.0.0.2", [("x-forwarded-for", "198.51.100.7, garbage")], "10.0.0.2"),  # malformed: the peer
        ("10.0.0.2", [("x-forwarded-for", "unknown")], "10.0.0.2"),
        ("10.0.0.2", [("x-forwarded-for", "")], "10.0.0.2"),
        ("10.0.0.2", [("forwarded", "for=198.51.100.7;proto=https")], "198.51.100.7"),
        ("10.0.0.2", [("forwarded", 'for="[2001:db8::7]:4711"')], "2001:db8::7"),
        ("10.0.0.2", [("forwarded", "for=192.0.2.60, For=10.0.0.9")], "192.0.2.60"),
        ("10.0.0.2", [("forwarded", "for=127.0.0.1, for=192.0.2.60")], "192.0.2.60"),
        ("10.0.0.2", [("forwarded", "for=unknown")], "10.0.0.2"),
        ("10.0.0.2", [("forwarded", "proto=https")], "10.0.0.2"),
        ("10.0.0.2", [("forwarded", 'for="192.0.2.60')], "10.0.0.2"),
        ("10.0.0.2", [("forwarded", "garbage")], "10.0.0.2"),
        # X-Forwarded-For, set by nearly every proxy, is read when present.
        ("10.0.0.2", [("forwarded", "for=127.0.0.1"), ("x-forwarded-for", "198.51.100.7")], "198.51.100.7"),
        ("::1", [("x-forwarded-for", "198.51.100.7")], "198.51.100.7"),
        ("::ffff:10.0.0.2", [("x-forwarded-for", "198.51.100.7")], "198.51.100.7"),
        ("not an address", [("x-forwarded-for", "198.51.100.7")], "not an address"),
    ],
)
def test_client_address(peer: str, headers: list[tuple[str, str]], client: str) -> None:
    assert client_address(peer, Headers(headers), TRUSTED) == client


def test_no_trusted_proxy_means_the_peer() -> None:
    assert client_address("10.0.0.2", Headers([("x-forwarded-for", "198.51.100.7")]), []) == "10.0.0.2"


# -- no way around a rule ------------------------------------------------------------------------------------------

SEGMENTS = ["admin", "Admin", "x", "", ".", "..", "%2e", "%2E%2E", "%2F", "%2fadmin", "%61dmin", "adm%69n", "a%00",
            "%ff", "_lib", ".git", "[id]", "%5C", "admin%2F..", "%20"]


@pytest.fixture(scope="module")
def site_with_admin(tmp_path_factory: pytest.TempPathFactory) -> Router:
    root = tmp_path_factory.mktemp("site")
    (root / "admin").mkdir()
    (root / "admin" / "[id].lua").write_text("print('x')\n")
    (root / "admin" / "index.lua").write_text("print('x')\n")
    (root / "admin.lua").write_text("print('x')\n")
    return Router(str(root.resolve()), {".lua": "lua"})


@settings(max_examples=600, deadline=None)
@given(parts=st.lists(st.sampled_from(SEGMENTS), min_size=1, max_size=6), trailing=st.booleans())
def test_every_path_that_reaches_a_folders_files_meets_its_rules(site_with_admin: Router, parts: list[str],
                                                                trailing: bool) -> None:
    # Whatever spelling reaches admin/ through the page router or the static files (encoded letters, encoded
    # slashes, `//`, `.`, `..`) meets the rules of "/admin/*": rules see the path file routing resolves.
    raw = "/" + "/".join(parts) + ("/" if trailing else "")
    r = rules('[[route]]\npath = "/admin/*"\ndeny = ["0.0.0.0/0", "::/0"]\n')
    reached = False
    try:
        match = site_with_admin.match(raw)
    except UnicodeDecodeError:
        match = None
    if match is not None:  # admin.lua answers /admin, the others /admin/...
        reached = match.route.name.startswith("admin/") or match.route.name == "admin.lua"
    with contextlib.suppress(StaticError):
        reached = reached or decode_path(raw)[:1] == ["admin"]
    if reached:
        canonical = canonical_path(raw)
        assert canonical is not None and r.match(canonical), raw
