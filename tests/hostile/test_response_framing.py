"""Class 9: pages cannot break the framing of their response.

A page sets a 1xx status (also, in PHP, as a raw status line or a CGI `Status:` header), a header
name that is not an RFC 9110 token, or a header value with CR, LF, NUL, DEL or another control
character. The client gets a 500 (or the invalid header dropped, with a line in the log), parsed
strictly; and the next request on the same connection (an HTTP/1.1 keep-alive connection, an
HTTP/2 or a QUIC connection) gets the victim's correct answer: the connection stays in step.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest

from tests._server import RunningServer
from tests.hostile._support import (
    ATTACKER,
    RUNTIMES,
    VICTIM,
    Answer,
    Client,
    Http3Client,
    HttpxClient,
    RawHttp1,
    hello_path,
    hello_text,
    page,
    why,
)

pytestmark = pytest.mark.e2e

CASES: dict[str, dict[str, str]] = {
    "status-100": {"status": "100"},
    "status-101": {"status": "101"},
    "status-103": {"status": "103"},
    "name-space": {"name": "bad name"},
    "name-colon": {"name": "x:y"},
    "name-empty": {"name": ""},
    "name-nul": {"name": "x\0y"},
    "name-crlf": {"name": "x\r\ninjected: 1"},
    "name-non-ascii": {"name": "é"},
    "value-crlf": {"value": "a\r\ninjected: 1"},
    "value-lf": {"value": "a\ninjected: 1"},
    "value-cr": {"value": "a\rinjected: 1"},
    "value-nul": {"value": "a\0b"},
    "value-del": {"value": "a\x7fb"},
    "value-ctl": {"value": "a\x01b"},
}
PHP_ONLY: dict[str, dict[str, str]] = {
    "raw-status-line-101": {"raw": "HTTP/1.1 101 Switching Protocols"},
    "raw-status-header-101": {"raw": "Status: 101 Switching Protocols"},
}
ON_EVERY_PROTOCOL = ["status-100", "status-101", "name-space", "name-non-ascii", "value-crlf", "value-nul", "value-del",
                     "value-ctl"]
TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def cases_for(runtime: str) -> list[tuple[str, str]]:
    if runtime != "php":
        return [(runtime, case) for case in CASES]
    # PHP's header() takes "name: value" in one string: "x:y: x" is the valid field "x: y: x".
    return [(runtime, case) for case in [*CASES, *PHP_ONLY] if case != "name-colon"]


def attack_path(runtime: str, case: str) -> str:
    return page(runtime, "frame") + "?" + urlencode({**CASES, **PHP_ONLY}[case])


def check_outcome(server: RunningServer, case: str, answer: Answer, log_before: int) -> None:
    """A 5xx; or, for a header, 200 with the header dropped and a log line saying so."""
    if 500 <= answer.status < 600:
        return
    assert not case.startswith(("status", "raw")), f"{case}: status {answer.status} reached the client"
    assert answer.status == 200, f"{case}: {why(server, answer)}"
    assert answer.text == "framed\n", answer.text
    for name, value in answer.headers:
        assert TOKEN.fullmatch(name), f"{case}: header name {name!r} reached the client"
        assert not CONTROL.search(value), f"{case}: header value {value!r} reached the client"
        assert name != "injected", f"{case}: a page injected a header"
        assert "injected" not in value, f"{case}: a page's value crossed into another field: {value!r}"
    fields = {**CASES, **PHP_ONLY}[case]
    if "value" in fields and "name" not in fields:
        assert answer.header("x-hostile") is None, f"{case}: x-hostile: {answer.header('x-hostile')!r}"
    new_log = server.log()[log_before:]
    assert re.search(r"header", new_log, re.IGNORECASE), f"{case}: the header was dropped without a log line"


@pytest.mark.parametrize(("runtime", "case"), [c for rt in RUNTIMES for c in cases_for(rt)])
def test_http1_response_framing(plain: RunningServer, runtime: str, case: str) -> None:
    conn = RawHttp1(plain.port)
    try:
        log_before = len(plain.log())
        answer = conn.get(ATTACKER, attack_path(runtime, case))
        check_outcome(plain, case, answer, log_before)
        assert conn.reusable, f"{case}: the server closed the keep-alive connection after the page's response"
        after = conn.get(VICTIM, hello_path(runtime))
        assert after.status == 200 and after.text == hello_text(runtime), f"{case}: the connection went out of step"
    finally:
        conn.close()


@pytest.fixture(params=["http2", "http3"])
def multiplexed(request: pytest.FixtureRequest) -> Iterator[Client]:
    if request.param == "http3":
        yield Http3Client(request.getfixturevalue("tls"))
        return
    c = HttpxClient(request.getfixturevalue("plain"), http2=True)
    yield c
    c.close()


@pytest.mark.parametrize("case", ON_EVERY_PROTOCOL)
@pytest.mark.parametrize("runtime", RUNTIMES)
def test_multiplexed_response_framing(multiplexed: Client, runtime: str, case: str) -> None:
    log_before = len(multiplexed.server.log())
    if isinstance(multiplexed, Http3Client):
        # Both requests on one QUIC connection.
        answer, after = multiplexed.exchange([(ATTACKER, attack_path(runtime, case), {}),
                                              (VICTIM, hello_path(runtime), {})])
    else:
        answer = multiplexed.get(ATTACKER, attack_path(runtime, case))
        after = multiplexed.get(VICTIM, hello_path(runtime))  # the same HTTP/2 connection
    check_outcome(multiplexed.server, case, answer, log_before)
    assert after.status == 200 and after.text == hello_text(runtime), f"{case}: {why(multiplexed.server, after)}"
