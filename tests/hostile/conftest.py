"""Fixtures of the hostile-page suite: the session's secrets, the two sites, one server per module.

A module that needs another server config overrides `server_config` (or `server_args`). `plain`
serves HTTP/1.1 and h2c; `tls` (started only when a test asks for it) serves HTTP/3 over QUIC, with
a development certificate. Both serve the module's own copy of the sites, so what an attacker
page writes into its site stays within the module.
"""

from __future__ import annotations

import secrets as random
from collections.abc import Iterator
from pathlib import Path

import pytest

from dynlan.server._tls import development_certificate
from tests._server import RunningServer, run_dynlan
from tests.hostile._support import (
    CONFIG,
    PROTOCOLS,
    Client,
    HttpxClient,
    Secrets,
    build_sites,
    make_client,
)


@pytest.fixture(scope="session")
def secrets() -> Secrets:
    return Secrets(file=f"sek-{random.token_hex(16)}", cookie=f"ck-{random.token_hex(16)}")


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    return development_certificate(tmp_path_factory.mktemp("hostile-tls"))


@pytest.fixture(scope="module")
def server_config() -> str:
    return CONFIG


@pytest.fixture(scope="module")
def server_args() -> tuple[str, ...]:
    return ()


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory, secrets: Secrets) -> Path:
    return build_sites(tmp_path_factory.mktemp("hostile") / "sites", secrets)


@pytest.fixture(scope="module")
def plain(sites: Path, server_config: str, server_args: tuple[str, ...]) -> Iterator[RunningServer]:
    with run_dynlan(sites, *server_args, config=server_config) as server:
        yield server


@pytest.fixture(scope="module")
def tls(sites: Path, server_config: str, server_args: tuple[str, ...],
        certificate: tuple[str, str]) -> Iterator[RunningServer]:
    cert, key = certificate
    with run_dynlan(sites, *server_args, "--tls-cert", cert, "--tls-key", key, "--http3",
                    config=server_config) as server:
        yield server


@pytest.fixture(params=PROTOCOLS)
def protocol(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def client(request: pytest.FixtureRequest, protocol: str) -> Iterator[Client]:
    c = make_client(protocol, lambda: request.getfixturevalue("plain"), lambda: request.getfixturevalue("tls"))
    yield c
    c.close()


@pytest.fixture
def h1(plain: RunningServer) -> Iterator[Client]:
    c = HttpxClient(plain, http2=False)
    yield c
    c.close()
