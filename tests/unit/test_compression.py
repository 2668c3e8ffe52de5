"""Accept-Encoding negotiation (RFC 9110 §12.5.3) and the codecs."""

from __future__ import annotations

import pytest

from dynlan import compression

ALL = ("br", "zstd", "gzip")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("gzip", "gzip"),
        ("gzip, br", "br"),
        ("gzip, deflate, br, zstd", "br"),
        ("gzip;q=1.0, br;q=0.5", "gzip"),
        ("br;q=0, gzip", "gzip"),
        ("br;q=0, gzip;q=0", None),
        ("identity", None),
        ("*", "br"),
        ("*;q=0.5, gzip;q=0", "br"),
        ("zstd;q=0.9, br;q=0.9, gzip;q=0.9", "br"),
        ("gzip;q=bogus, br;q=0.2", "br"),
        ("x-gzip", "gzip"),
        ("identity;q=1, gzip;q=0.5", None),
        ("identity;q=0, gzip;q=0.1", "gzip"),
    ],
)
def test_negotiate(header: str | None, expected: str | None) -> None:
    assert compression.negotiate(header, ALL) == expected


def test_offer_limits_the_choice() -> None:
    assert compression.negotiate("br, gzip", ("gzip",)) == "gzip"
    assert compression.negotiate("br", ("gzip",)) is None


@pytest.mark.parametrize("coding", ALL)
def test_round_trip(coding: str) -> None:
    data = b"<p>compress me</p>\n" * 500
    packed = compression.compress(data, coding)
    assert len(packed) < len(data) // 10
    assert compression.decompress(packed, coding) == data


def test_compressible_types() -> None:
    assert compression.compressible("text/html; charset=utf-8")
    assert compression.compressible("application/json")
    assert compression.compressible("image/svg+xml")
    assert not compression.compressible("image/png")
    assert not compression.compressible("application/octet-stream")


@pytest.mark.parametrize("media", [
    "application/javascript", "application/x-javascript", "text/javascript; charset=utf-8", "application/json",
    "application/problem+json", "application/ld+json", "application/xml", "application/atom+xml",
    "Application/RSS+XML", "image/svg+xml", "application/vnd.api+json",
])
def test_script_json_xml_and_svg_types_are_compressible(media: str) -> None:
    assert compression.compressible(media)


@pytest.mark.parametrize("media", ["image/jpeg", "video/mp4", "application/zip", "application/gzip",
                                   "font/woff2", "application/jsonx", "application/xml-dtd-ish"])
def test_compressed_or_unknown_types_are_not(media: str) -> None:
    assert not compression.compressible(media)


def test_vary_is_merged() -> None:
    headers = [("vary", "Cookie")]
    compression.add_vary(headers)
    compression.add_vary(headers)
    assert headers == [("vary", "Cookie, Accept-Encoding")]
