"""Fields of a proxied request and response: hop-by-hop dropped, forwarding fields set or appended."""

from __future__ import annotations

import ipaddress

import pytest

from dynlan.http import Headers, HttpRequest
from dynlan.proxy import parse_proxy, peer_trusted
from dynlan.proxy._client import UpstreamBroken
from dynlan.proxy._forward import _accepted
from dynlan.proxy._headers import request_headers, response_headers, response_trailers
from dynlan.realtime import Offer

SPEC = parse_proxy({"upstreams": ["http://127.0.0.1:9001"]}, "p")


def request(headers: list[tuple[str, str]], version: str = "1.1", host: str = "site.test",
            scheme: str = "https") -> HttpRequest:
    return HttpRequest("GET", "/x", "/x", "", Headers(headers), version, scheme, host, ("10.0.0.5", 4000), "id")


def get(fields: list[tuple[str, str]], name: str) -> list[str]:
    return [v for k, v in fields if k == name]


def test_hop_by_hop_and_proxy_fields_are_not_passed_on() -> None:
    out, kind = request_headers(request([
        ("connection", "keep-alive, X-Private"), ("x-private", "1"), ("keep-alive", "300"), ("te", "trailers"),
        ("upgrade", "h2c"), ("proxy-authorization", "Basic eA=="), ("proxy-connection", "keep-alive"),
        ("expect", "100-continue"), ("accept", "*/*"), ("host", "site.test"),
    ]), SPEC, "10.0.0.5", False)
    # TE: trailers is the one hop-by-hop value passed on, with TE as a connection option (RFC 9110 §10.1.4).
    assert [k for k, _ in out] == ["host", "accept", "forwarded", "x-forwarded-for", "x-forwarded-proto",
                                   "x-forwarded-host", "via", "te", "connection"]
    assert out[-2:] == [("te", "trailers"), ("connection", "te")]
    assert kind == "none"


def test_an_untrusted_peers_forwarding_fields_are_replaced() -> None:
    out, _ = request_headers(request([
        ("x-forwarded-for", "127.0.0.1"), ("forwarded", "for=127.0.0.1"), ("x-forwarded-proto", "http"),
        ("x-forwarded-host", "evil.test"), ("via", "1.1 other"),
    ]), SPEC, "10.0.0.5", False)
    assert get(out, "x-forwarded-for") == ["10.0.0.5"]
    assert get(out, "forwarded") == ['for=10.0.0.5;proto=https;host="site.test"']
    assert get(out, "x-forwarded-proto") == ["https"]
    assert get(out, "x-forwarded-host") == ["site.test"]
    assert get(out, "via") == ["1.1 other, 1.1 dynlan"]  # Via is a record of hops, not a claim of identity


def test_a_trusted_peers_forwarding_fields_are_appended_to() -> None:
    out, _ = request_headers(request([
        ("x-forwarded-for", "203.0.113.7"), ("forwarded", 'for=203.0.113.7;proto=https'),
        ("x-forwarded-proto", "https"), ("x-forwarded-host", "public.test"),
    ], version="2", scheme="http"), SPEC, "::1", True)
    assert get(out, "x-forwarded-for") == ["203.0.113.7, ::1"]
    assert get(out, "forwarded") == ['for=203.0.113.7;proto=https, for="[::1]";proto=http;host="site.test"']
    assert get(out, "x-forwarded-proto") == ["https"] and get(out, "x-forwarded-host") == ["public.test"]
    assert get(out, "via") == ["2 dynlan"]


def test_host_and_body_framing() -> None:
    named = parse_proxy({"upstreams": ["http://127.0.0.1:9001"], "host": "backend"}, "p")
    assert get(request_headers(request([]), named, "1.2.3.4", False)[0], "host") == ["backend"]
    assert get(request_headers(request([]), SPEC, "1.2.3.4", False)[0], "host") == ["site.test"]
    assert get(request_headers(request([], host=""), SPEC, "1.2.3.4", False)[0], "host") == ["127.0.0.1:9001"]
    assert request_headers(request([("content-length", "10")]), SPEC, "p", False)[1] == "body"
    assert request_headers(request([("content-length", "0")]), SPEC, "p", False)[1] == "none"
    out, kind = request_headers(request([("transfer-encoding", "chunked")]), SPEC, "p", False)
    assert kind == "chunked" and not get(out, "transfer-encoding")  # h11 writes the framing itself
    assert request_headers(request([], version="2"), SPEC, "p", False)[1] == "probe"
    assert request_headers(request([], version="3"), SPEC, "p", False)[1] == "probe"


def test_response_fields() -> None:
    out = response_headers([(b"Content-Type", b"text/plain"), (b"Connection", b"x-a, close"), (b"X-A", b"1"),
                            (b"Transfer-Encoding", b"chunked"), (b"Date", b"Mon"), (b"Server", b"up"),
                            (b"Set-Cookie", b"a=1"), (b"Set-Cookie", b"b=2"), (b"Via", b"1.0 up")])
    assert out == [("content-type", "text/plain"), ("set-cookie", "a=1"), ("set-cookie", "b=2"),
                   ("via", "1.0 up, 1.1 dynlan")]


def test_response_fields_are_a_new_list_each_time() -> None:
    # The same head converts once; what a caller adds to its list (a sticky cookie) reaches no other response.
    raw = [(b"content-type", b"text/plain"), (b"connection", b"keep-alive")]
    first = response_headers(raw)
    first.append(("set-cookie", "dynlan_upstream=abc"))
    assert response_headers(raw) == [("content-type", "text/plain"), ("via", "1.1 dynlan")]
    assert response_headers([*raw, (b"x-id", b"2")])[-2:] == [("x-id", "2"), ("via", "1.1 dynlan")]


def test_response_trailers_keep_what_a_trailer_section_may_carry() -> None:
    raw = [(b"X-Checksum", b"abc"), (b"grpc-status", b"0"), (b"content-length", b"9"), (b"transfer-encoding", b"x"),
           (b"host", b"evil.test"), (b"set-cookie", b"s=1"), (b"authorization", b"Basic eA=="),
           (b"content-type", b"text/html"), (b"cache-control", b"no-store"), (b"proxy-x", b"1"), (b"trailer", b"x"),
           (b"connection", b"close"), (b"location", b"/elsewhere"), (b"server-timing", b"db;dur=5")]
    assert response_trailers(raw) == [("x-checksum", "abc"), ("grpc-status", "0"), ("server-timing", "db;dur=5")]
    assert response_trailers([]) == []


def test_peer_trusted() -> None:
    nets = [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("::1/128")]
    assert peer_trusted("10.1.2.3", nets) and peer_trusted("::ffff:10.1.2.3", nets) and peer_trusted("::1", nets)
    assert not peer_trusted("11.0.0.1", nets) and not peer_trusted("", nets) and not peer_trusted("10.0.0.1", [])


def test_an_upstreams_websocket_answer_is_checked_as_a_client_checks_it() -> None:
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    good = [(b"upgrade", b"websocket"), (b"connection", b"Upgrade"),
            (b"sec-websocket-accept", b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), (b"sec-websocket-protocol", b"chat"),
            (b"sec-websocket-extensions", b"permessage-deflate")]
    over_h1 = Offer(key, ("chat", "v2"), False)
    assert _accepted(good, over_h1, key) == [
        ("upgrade", "websocket"), ("connection", "Upgrade"), ("sec-websocket-accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
        ("sec-websocket-protocol", "chat"), ("sec-websocket-extensions", "permessage-deflate")]
    # Over HTTP/2 the client's answer is a 200 with no accept token (RFC 8441 §5): only what was chosen.
    assert _accepted(good, Offer("", ("chat",), True), key) == [
        ("sec-websocket-protocol", "chat"), ("sec-websocket-extensions", "permessage-deflate")]
    for bad, why in [
        ([(n, b"x" if n == b"sec-websocket-accept" else v) for n, v in good], "does not match"),
        ([f for f in good if f[0] != b"upgrade"], "not a WebSocket"),
        ([(n, b"mqtt" if n == b"sec-websocket-protocol" else v) for n, v in good], "did not offer"),
    ]:
        with pytest.raises(UpstreamBroken, match=why):
            _accepted(bad, over_h1, key)
