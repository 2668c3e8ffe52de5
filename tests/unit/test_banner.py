"""The start-up banner's details: each site and its hosts, a URL per protocol, the admin listener, dev mode, and
every runtime with its version or why it is unavailable."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dynlan._serve_cmd import _banner_details
from dynlan.app import App, discover_sites
from dynlan.config import Config
from dynlan.runtimes import registry


def test_banner_of_two_sites_over_tls_with_http3_and_admin(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("shop.test", "blog.test"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "index.html").write_text(name)
    config = Config()
    config.server.port = 8443
    config.http.http3 = True
    config.admin.listen = "127.0.0.1:9090"
    config.dev = True
    sites, default = discover_sites(tmp_path, config)
    _banner_details(config, "https", sites, default.name, App(config, sites, default))
    out = capsys.readouterr().out
    assert re.search(rf"site +{default.name} +Host: {default.name}, and any host no site names", out), out
    other = next(name for name in sites if name != default.name)
    assert re.search(rf"site +{other} +Host: {other} +\(", out), out
    assert re.search(r"HTTP/1\.1 +https://127\.0\.0\.1:8443/\n", out), out
    assert re.search(r"HTTP/2 +https://127\.0\.0\.1:8443/ +\(ALPN h2\)", out), out
    assert re.search(r"HTTP/3 +https://127\.0\.0\.1:8443/ +\(QUIC on UDP port 8443\)", out), out
    assert re.search(r"admin +http://127\.0\.0\.1:9090/ ", out), out
    assert re.search(r"dev mode +on:", out), out
    for name, _suffixes, version, status in registry().describe():
        expected = f"{name} {version}" if status == "available" else f"{name}: {status}"
        assert re.search(rf"runtime +{re.escape(expected)}", out), out


def test_banner_without_dev_or_tls(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "index.html").write_text("home")
    config = Config()
    config.http.http2 = False
    sites, default = discover_sites(tmp_path, config)
    _banner_details(config, "http", sites, default.name, App(config, sites, default))
    out = capsys.readouterr().out
    assert re.search(r"site +\S+ +every host", out) and "HTTP/2" not in out and "HTTP/3" not in out
    assert "admin" not in out and re.search(r"dev mode +off", out), out
