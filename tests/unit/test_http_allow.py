"""Pages' HTTP calls without a network: the allow list's entries and their checks, what a site's file may list, the
URL and the call's arguments. (The calls themselves are tested over real HTTP in tests/e2e/test_page_http.py.)"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from dynlan.config import Config, ConfigError, load_config, site_config
from dynlan.host._http import check_site_allow, parse_call, parse_entry, parse_url, public


@pytest.mark.parametrize(
    ("text", "name", "network", "ports"),
    [
        ("api.example.com", "api.example.com", None, {80, 443}),
        ("API.Example.com:8443", "api.example.com", None, {8443}),
        ("*.example.com", "*.example.com", None, {80, 443}),
        ("127.0.0.1:9000", "", "127.0.0.1/32", {9000}),
        ("10.0.0.0/8:443", "", "10.0.0.0/8", {443}),
        ("[::1]:8080", "", "::1/128", {8080}),
        ("[fd00::/8]", "", "fd00::/8", {80, 443}),
        ("2001:db8::1", "", "2001:db8::1/128", {80, 443}),
    ],
)
def test_entries(text: str, name: str, network: str | None, ports: set[int]) -> None:
    entry = parse_entry(text)
    assert entry.name == name and entry.ports == ports
    assert entry.network == (ipaddress.ip_network(network) if network else None)


@pytest.mark.parametrize("text", ["", "*", "http://api.example.com", "10.0.0.1/8", "1.2.3", "a..b", "x:0",
                                  "x:65536", "[::1", "[::1]80", "api.example.com/path", "*.*.example.com"])
def test_bad_entries_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_entry(text)


def test_names_and_wildcards() -> None:
    exact, wild = parse_entry("api.example.com"), parse_entry("*.example.com:8443")
    assert exact.admits_name("api.example.com", 443) and not exact.admits_name("api.example.com", 8080)
    assert not exact.admits_name("x.api.example.com", 443)
    assert wild.admits_name("a.example.com", 8443) and wild.admits_name("a.b.example.com", 8443)
    assert not wild.admits_name("example.com", 8443) and not wild.admits_name("badexample.com", 8443)
    assert not exact.admits_address(ipaddress.ip_address("127.0.0.1"), 443)  # a name entry admits no address


def test_networks() -> None:
    net = parse_entry("10.0.0.0/8:443")
    assert net.admits_address(ipaddress.ip_address("10.1.2.3"), 443)
    assert not net.admits_address(ipaddress.ip_address("10.1.2.3"), 80)
    assert not net.admits_address(ipaddress.ip_address("11.0.0.1"), 443)
    assert not net.admits_address(ipaddress.ip_address("::ffff:10.1.2.3"), 443)


@pytest.mark.parametrize("address", ["127.0.0.1", "10.0.0.1", "172.16.0.1", "192.168.1.1", "169.254.169.254",
                                     "100.64.0.1", "0.0.0.0", "::1", "fe80::1", "fd00::1", "::ffff:127.0.0.1",
                                     "224.0.0.1", "255.255.255.255", "::", "64:ff9b::7f00:1", "2002:7f00:1::1"])
def test_the_machine_and_private_networks_are_not_public(address: str) -> None:
    # A name entry reaches public addresses only: the cloud metadata address, the loopback, private ranges
    # (also written as IPv4-mapped IPv6) need an address entry.
    assert not public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "2a00:1450::1"])
def test_public_addresses(address: str) -> None:
    assert public(ipaddress.ip_address(address))


# -- a site's list against the server's ------------------------------------------------------------------------


def test_within() -> None:
    assert parse_entry("a.example.com").within(parse_entry("*.example.com"))
    assert parse_entry("*.a.example.com").within(parse_entry("*.example.com"))
    assert not parse_entry("example.com").within(parse_entry("*.example.com"))
    assert parse_entry("10.1.0.0/16:443").within(parse_entry("10.0.0.0/8:443"))
    assert not parse_entry("10.1.0.0/16").within(parse_entry("10.0.0.0/8:443"))  # 80 is not granted
    assert not parse_entry("10.0.0.1").within(parse_entry("api.example.com"))


def test_a_site_may_list_public_hosts_when_the_server_has_no_list() -> None:
    check_site_allow(["api.example.com", "8.8.8.8:53", "*.example.org:8443"], [], "s: outbound.allow")


@pytest.mark.parametrize("entry", ["127.0.0.1:9000", "10.0.0.0/8", "[::1]", "169.254.169.254", "0.0.0.0/0"])
def test_only_the_server_grants_the_machine_and_private_networks(entry: str) -> None:
    with pytest.raises(ConfigError, match="non-public address; a site may name one only where the server"):
        check_site_allow([entry], [], "s: outbound.allow")
    check_site_allow([entry], [entry], "s: outbound.allow")


def test_with_a_server_list_a_site_can_only_narrow_it() -> None:
    server = ["*.example.com", "10.0.0.0/8:443"]
    check_site_allow(["api.example.com", "10.2.0.0/16:443"], server, "s: outbound.allow")
    with pytest.raises(ConfigError, match=r"outbound.allow\[1\] = 'api.example.org' is not within the server's"):
        check_site_allow(["api.example.com", "api.example.org"], server, "s: outbound.allow")


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_site_files(tmp_path: Path) -> None:
    base = load_config(_write(tmp_path, "server.toml", '[outbound]\nallow = ["127.0.0.1:9000", "*.example.com"]\n'))
    # A site without a list of its own reaches nothing, whatever the server's list says.
    assert site_config(base, None).outbound.allow == []
    site = site_config(base, _write(tmp_path, "a.toml", '[outbound]\nallow = ["127.0.0.1:9000"]\nmax_response_size = 1000\n'))
    assert site.outbound.allow == ["127.0.0.1:9000"] and site.outbound.max_response_size == 1000
    with pytest.raises(ConfigError, match="outbound.allow\\[0\\] = '127.0.0.1:9001' is not within"):
        site_config(base, _write(tmp_path, "b.toml", '[outbound]\nallow = ["127.0.0.1:9001"]\n'))
    with pytest.raises(ConfigError, match="outbound.max_response_size = 9000000 is above the server's"):
        site_config(base, _write(tmp_path, "c.toml", "[outbound]\nmax_response_size = 9000000\n"))
    with pytest.raises(ConfigError, match=r"server.toml: outbound.allow\[0\]: 'http://x'"):
        load_config(_write(tmp_path, "server.toml", '[outbound]\nallow = ["http://x"]\n'))
    assert Config().outbound.allow == []


# -- the URL and the call's arguments --------------------------------------------------------------------------


def test_urls() -> None:
    t = parse_url("http://api.example.com/a/b?x=1&y=%20")
    assert (t.scheme, t.host, t.port, t.path, t.authority) == ("http", "api.example.com", 80, "/a/b?x=1&y=%20",
                                                                "api.example.com")
    t = parse_url("https://[::1]:8443")
    assert (t.host, t.port, t.path, t.authority) == ("::1", 8443, "/", "[::1]:8443")
    assert parse_url("https://API.example.com.:443/").host == "api.example.com"


@pytest.mark.parametrize(("url", "why"), [
    ("ftp://example.com/", "only http and https"),
    ("file:///etc/passwd", "only http and https"),
    ("http://user:pw@example.com/", "Authorization header"),
    ("http:///x", "no host"),
    ("http://example.com/a b", "percent-encoded"),
    ("http://example.com/\r\nx: y", "percent-encoded"),
    ("http://example.com:99999/", "invalid URL"),
])
def test_bad_urls(url: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_url(url)


def test_call_arguments() -> None:
    call = parse_call((b"\x00raw", {"url": "http://x/", "method": "post", "headers": {"X-A": 1.0}}))
    assert (call.method, call.body, call.headers, call.redirects) == ("POST", b"\x00raw", [("x-a", "1")], 0)
    assert parse_call((None, {"url": "http://x/", "body": "AAE=", "base64": True})).body == b"\x00\x01"
    assert parse_call((None, {"url": "http://x/", "headers": []})).headers == []  # an empty Lua table


@pytest.mark.parametrize(("options", "why"), [
    ({"url": "http://x/", "headers": {"x-a": "1\r\nx-b: 2"}}, "control characters"),
    ({"url": "http://x/", "headers": {"bad name": "1"}}, "invalid header name"),
    ({"url": "http://x/", "headers": {"Transfer-Encoding": "chunked"}}, "set by the server"),
    ({"url": "http://x/", "headers": {"host": "other"}}, "set by the server"),
    ({"url": "http://x/", "method": "GET /x HTTP/1.1"}, "invalid method"),
    ({"url": "http://x/", "redirects": 11}, "0 to 10"),
    ({"url": "http://x/", "timeout": 0}, "above 0"),
    ({"url": "http://x/", "verify": False}, "unknown option 'verify'"),
    ({}, "`url` is required"),
])
def test_bad_call_arguments(options: dict[str, object], why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_call((None, options))
