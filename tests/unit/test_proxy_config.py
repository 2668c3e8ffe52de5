"""The `proxy` key of a rule: what is accepted, and every refusal naming its key."""

from __future__ import annotations

from pathlib import Path

import pytest

from dynlan.app._rules import compile_rules
from dynlan.config import Config, ConfigError, load_config, site_config
from dynlan.http import Headers
from dynlan.proxy import HealthCheck, ProxySpec, Timeouts, parse_proxy


def test_a_full_table() -> None:
    spec = parse_proxy({
        "upstreams": ["http://127.0.0.1:9001", "http://[::1]:9002", "http://backend", "unix:/run/app.sock"],
        "policy": "least_conn", "strip_prefix": True, "host": "api.internal:8080",
        "health": {"path": "/health", "interval": 2.0, "fails": 3},
        "timeouts": {"connect": 2, "read": 30.0}, "eject": {"fails": 5, "seconds": 30}, "keepalive": 8,
    }, "route[0].proxy")
    first, v6, named, sock = spec.upstreams
    assert (first.host, first.port, first.default_host) == ("127.0.0.1", 9001, "127.0.0.1:9001")
    assert (v6.host, v6.port, v6.default_host) == ("::1", 9002, "[::1]:9002")
    assert (named.port, named.default_host) == (80, "backend")
    assert (sock.unix_path, sock.default_host) == ("/run/app.sock", "localhost")
    assert spec.health == HealthCheck("/health", 2.0, 3, 2.0)
    assert spec.timeouts == Timeouts(connect=2.0, read=30.0, write=60.0)
    assert (spec.policy, spec.strip_prefix, spec.host, spec.eject_fails, spec.eject_seconds, spec.keepalive) == \
        ("least_conn", True, "api.internal:8080", 5, 30.0, 8)


def test_defaults_and_equal_tables_compare_equal() -> None:
    a = parse_proxy({"upstreams": ["http://127.0.0.1:9001"]}, "p")
    assert (a.policy, a.strip_prefix, a.host, a.health, a.timeouts) == ("round_robin", False, "", None, Timeouts())
    # A reload that leaves a table as it was finds its running group (pools, health) by equality.
    assert a == parse_proxy({"upstreams": ["http://127.0.0.1:9001"]}, "p") and hash(a) == hash(ProxySpec(a.upstreams))


@pytest.mark.parametrize(("table", "key", "words"), [
    ("x", "route[0].proxy", "expected a table"),
    ({}, "route[0].proxy.upstreams", "non-empty list"),
    ({"upstreams": []}, "route[0].proxy.upstreams", "non-empty list"),
    ({"upstreams": ["https://a:1"]}, "route[0].proxy.upstreams[0]", "plain HTTP/1.1"),
    ({"upstreams": ["http://a:1/base"]}, "route[0].proxy.upstreams[0]", "no path"),
    ({"upstreams": ["http://a:99999"]}, "route[0].proxy.upstreams[0]", "not a URL"),
    ({"upstreams": ["http://"]}, "route[0].proxy.upstreams[0]", "no host"),
    ({"upstreams": ["unix:run.sock"]}, "route[0].proxy.upstreams[0]", "absolute path"),
    ({"upstreams": [9001]}, "route[0].proxy.upstreams[0]", "URL string"),
    ({"upstreams": ["http://a:1", "http://a:1"]}, "route[0].proxy.upstreams[1]", "twice"),
    ({"upstreams": ["http://a:1"], "policy": "fastest"}, "route[0].proxy.policy", "round_robin"),
    ({"upstreams": ["http://a:1"], "strip_prefix": "yes"}, "route[0].proxy.strip_prefix", "true or false"),
    ({"upstreams": ["http://a:1"], "host": "a b"}, "route[0].proxy.host", "host name"),
    ({"upstreams": ["http://a:1"], "timeouts": {"read": -1}}, "route[0].proxy.timeouts.read", "above 0"),
    ({"upstreams": ["http://a:1"], "timeouts": {"connect": "2s"}}, "route[0].proxy.timeouts.connect", "seconds"),
    ({"upstreams": ["http://a:1"], "timeouts": {"idle": 2}}, "route[0].proxy.timeouts", "unknown key 'idle'"),
    ({"upstreams": ["http://a:1"], "health": {"interval": 2}}, "route[0].proxy.health.path", "a path"),
    ({"upstreams": ["http://a:1"], "health": {"path": "/h", "fails": 0}}, "route[0].proxy.health.fails", "from 1"),
    ({"upstreams": ["http://a:1"], "eject": {"fails": True}}, "route[0].proxy.eject.fails", "whole number"),
    ({"upstreams": ["http://a:1"], "keepalive": -1}, "route[0].proxy.keepalive", "from 0"),
    ({"upstreams": ["http://a:1"], "cookie": "a b"}, "route[0].proxy.cookie", "cookie name"),
    ({"upstreams": ["http://a:1"], "cookie_key": "short"}, "route[0].proxy.cookie_key", "16 characters"),
    ({"upstreams": ["http://a:1"], "retries": 2}, "route[0].proxy", "unknown key 'retries'"),
])
def test_refusals_name_the_key(table: object, key: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_proxy(table, "route[0].proxy")
    message = str(caught.value)
    assert message.startswith(key + ":") and words in message, message


def test_compiled_with_the_rules_and_refused_with_the_file_and_index() -> None:
    rules = compile_rules([{"path": "/x", "respond": {"body": "x"}},
                           {"path": "/api/*", "proxy": {"upstreams": ["http://127.0.0.1:9001"]}}], "site.toml")
    assert [spec.upstreams[0].url for spec in rules.proxies()] == ["http://127.0.0.1:9001"]
    assert any("-> proxy round_robin http://127.0.0.1:9001" in line for line in rules.describe())
    with pytest.raises(ConfigError, match=r"^site.toml: route\[1\].proxy.policy: 'x'"):
        compile_rules([{"path": "/x", "respond": {"body": "x"}},
                       {"path": "/api/*", "proxy": {"upstreams": ["http://a:1"], "policy": "x"}}], "site.toml")
    with pytest.raises(ConfigError, match="respond and proxy in one rule"):
        compile_rules([{"path": "/x", "respond": {"body": "x"}, "proxy": {"upstreams": ["http://a:1"]}}], "s")


async def test_the_outcome_carries_the_proxy_and_the_target() -> None:
    rules = compile_rules([
        {"path": "/api/*", "proxy": {"upstreams": ["http://a:1"], "strip_prefix": True}},
        {"path": "/raw/*", "proxy": {"upstreams": ["http://a:1"]}, "methods": ["GET"]},
        {"path": "/old/*", "rewrite": "/api/{path}"},
    ], "s")
    spec = rules.proxies()[0]

    async def outcome(method: str, path: str, query: str = "") -> tuple[object, str, int]:
        o = await rules.evaluate(method, path, query, "a.test", "127.0.0.1", Headers())
        return o.proxy, o.target, o.status

    assert await outcome("GET", "/api/v1/items", "a=1") == (spec, "/v1/items?a=1", 0)
    assert await outcome("GET", "/api") == (spec, "/", 0)
    assert await outcome("GET", "/old/v1") == (spec, "/v1", 0)  # a rewrite into a proxied path
    assert await outcome("GET", "/raw/a%2Fb") == (rules.proxies()[1], "/raw/a%2Fb", 0)
    assert (await outcome("POST", "/raw/a"))[2] == 405  # the rule's checks come first


@pytest.mark.parametrize("upstream, server, refused", [
    ("http://127.0.0.1:9001", [], "loopback, private"),
    ("http://169.254.169.254", [], "loopback, private"),
    ("http://[::1]:9001", [], "loopback, private"),
    ("unix:/var/run/docker.sock", [], '"unix:/var/run/docker.sock"'),
    ("http://127.0.0.1:9001", ["127.0.0.1:9002"], "not within"),
    ("unix:/run/a.sock", ["unix:/run/b.sock", "127.0.0.1:*"], '"unix:/run/a.sock"'),
    ("http://backend.internal:8080", ["10.0.0.0/8:8080"], "not within"),
    ("http://127.0.0.1:9001", ["127.0.0.1:9001"], None),
    ("http://127.0.0.1:9001", ["127.0.0.1:*"], None),
    ("http://[::1]:9001", ["[::1]:*"], None),
    ("unix:/run/a.sock", ["unix:/run/a.sock"], None),
    ("http://api.example.com", [], None),
    ("http://backend.internal:8080", ["backend.internal:8080", "10.0.0.0/8:8080"], None),
])
def test_a_sites_upstreams_are_bound_by_the_servers_outbound_list(tmp_path: Path, upstream: str, server: list[str],
                                                                  refused: str | None) -> None:
    # A site's file is not trusted: its proxy reaches what the server grants, as its pages' calls do.
    site_file = tmp_path / "dynlan.toml"
    site_file.write_text(f'[[route]]\npath = "/api/*"\nproxy = {{ upstreams = ["{upstream}"] }}\n')
    base = Config()
    base.outbound.allow = server
    if refused is None:
        [spec] = site_config(base, site_file).rules.proxies()
        assert spec.allow == tuple(server)
        return
    with pytest.raises(ConfigError) as error:
        site_config(base, site_file)
    assert "route[0].proxy.upstreams[0]" in str(error.value) and refused in str(error.value), error.value


def test_the_servers_own_rules_go_where_they_say(tmp_path: Path) -> None:
    server_file = tmp_path / "server.toml"
    server_file.write_text('[[route]]\npath = "/api/*"\nproxy = { upstreams = ["http://127.0.0.1:9001", '
                           '"unix:/run/app.sock"] }\n')
    [spec] = load_config(server_file).rules.proxies()
    assert spec.allow is None
