"""Kept answers (dynlan/server/_replay.py): a static file's plain 200 written again without the pipeline, never
where the full path would answer otherwise."""

from __future__ import annotations

import email.utils
import os
import signal
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from dynlan.server._control import send_to_server
from tests._server import RunningServer, run_dynlan

pytestmark = pytest.mark.e2e

TEXT = "a static file, long enough to be worth compressing. " * 40


def replayed(server: RunningServer) -> int:
    return sum(reply.get("replayed", 0) for reply in send_to_server(server.port, {"op": "stats"}))


def until_replayed(server: RunningServer, count: int, ask: Callable[[], httpx.Response]) -> list[httpx.Response]:
    """Ask until `count` more answers were kept ones (an answer is kept for a second: on a slow machine, some
    requests may come after it and be kept again), and return every response."""
    target = replayed(server) + count
    deadline = time.monotonic() + 30
    responses = []
    while replayed(server) < target:
        assert time.monotonic() < deadline, "no kept answer was used"
        responses.append(ask())
    return responses


def raw_get(port: int, target: str, *fields: str) -> bytes:
    """One request on its own connection, what came back until the server closed it."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        head = "".join(f"{f}\r\n" for f in (*fields, "Connection: close"))
        s.sendall(f"GET {target} HTTP/1.1\r\n{head}\r\n".encode())
        out = b""
        while chunk := s.recv(65536):
            out += chunk
        return out


@pytest.fixture()
def sites(tmp_path: Path) -> Path:
    for name in ("alpha.test", "beta.test"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "same.txt").write_text(f"the file of {name}\n")
    (tmp_path / "alpha.test" / "page.txt").write_text(TEXT)
    (tmp_path / "alpha.test" / "private").mkdir()
    (tmp_path / "alpha.test" / "private" / "note.txt").write_text("for 127.0.0.1 only\n")
    (tmp_path / "alpha.test" / "dynlan.toml").write_text(
        '[[route]]\npath = "/private/*"\nallow = ["127.0.0.1"]\n\n'
        '[[route]]\npath = "/edited/*"\nheaders = { set = { "x-edited" = "yes" } }\n')
    return tmp_path


@pytest.fixture()
def server(sites: Path) -> Iterator[RunningServer]:
    with run_dynlan(sites, "--no-access-log") as running:
        yield running


def test_the_same_request_gets_the_same_answer_with_the_current_date(server: RunningServer) -> None:
    with httpx.Client(base_url=server.url, headers={"host": "alpha.test", "accept-encoding": "identity"}) as c:
        first = c.get("/page.txt")
        again = until_replayed(server, 3, lambda: c.get("/page.txt"))
    for r in again:
        assert r.status_code == 200 and r.text == TEXT
        assert {k: v for k, v in r.headers.items() if k != "date"} == \
            {k: v for k, v in first.headers.items() if k != "date"}
        # The date of the answer, not the kept one's.
        assert abs(email.utils.parsedate_to_datetime(r.headers["date"]).timestamp() - time.time()) < 3


def test_a_changed_or_removed_file_is_seen_at_once(server: RunningServer, sites: Path) -> None:
    path = sites / "alpha.test" / "same.txt"
    with httpx.Client(base_url=server.url, headers={"host": "alpha.test"}) as c:
        assert c.get("/same.txt").text == "the file of alpha.test\n"
        assert c.get("/same.txt").text == "the file of alpha.test\n"
        path.write_text("the file of alpha.test, changed\n")
        assert c.get("/same.txt").text == "the file of alpha.test, changed\n"
        # The same size, other bytes: its modification time tells.
        stamp = path.stat().st_mtime_ns
        path.write_text("the file of alpha.test, CHANGED\n")
        os.utime(path, ns=(stamp + 1_000_000, stamp + 1_000_000))
        assert c.get("/same.txt").text == "the file of alpha.test, CHANGED\n"
        path.unlink()
        assert c.get("/same.txt").status_code == 404


def test_hosts_do_not_share_answers(server: RunningServer) -> None:
    with httpx.Client(base_url=server.url) as c:
        for _ in range(3):
            assert c.get("/same.txt", headers={"host": "alpha.test"}).text == "the file of alpha.test\n"
        # beta's own answer, kept by its first request, and used for the next.
        for r in until_replayed(server, 1, lambda: c.get("/same.txt", headers={"host": "beta.test"})):
            assert r.text == "the file of beta.test\n"


def test_fields_that_change_the_answer_take_the_full_path(server: RunningServer) -> None:
    with httpx.Client(base_url=server.url, headers={"host": "alpha.test", "accept-encoding": "identity"}) as c:
        plain = c.get("/page.txt")
        c.get("/page.txt")
        before = replayed(server)
        etag = plain.headers["etag"]
        assert c.get("/page.txt", headers={"range": "bytes=0-4"}).status_code == 206
        assert c.get("/page.txt", headers={"if-none-match": etag}).status_code == 304
        assert c.get("/page.txt", headers={"cookie": "a=b"}).text == TEXT
        zipped = c.get("/page.txt", headers={"accept-encoding": "gzip"})
        assert zipped.headers["content-encoding"] == "gzip" and zipped.text == TEXT
        assert c.head("/page.txt").content == b""
        assert replayed(server) == before
        # The gzip answer is kept under its own key: the next gzip request gets gzip.
        again = c.get("/page.txt", headers={"accept-encoding": "gzip"})
        assert again.headers["content-encoding"] == "gzip" and again.text == TEXT
    closing = raw_get(server.port, "/page.txt", "Host: alpha.test")
    assert closing.startswith(b"HTTP/1.1 200") and b"\r\nconnection: close\r\n" in closing.lower()


def test_a_rule_on_the_path_applies_to_every_request(server: RunningServer) -> None:
    with httpx.Client(base_url=server.url, headers={"host": "alpha.test"}) as c:
        before = replayed(server)
        for _ in range(3):
            assert c.get("/private/note.txt").status_code == 200
        assert replayed(server) == before  # never kept: a rule applies to the path
    # Another client asking the same, field for field: the rule's refusal, not the answer 127.0.0.1 got.
    with httpx.Client(base_url=server.url, headers={"host": "alpha.test"},
                      transport=httpx.HTTPTransport(local_address="127.0.0.2")) as other:
        assert other.get("/private/note.txt").status_code == 403


def test_a_reload_drops_what_was_kept(server: RunningServer, sites: Path) -> None:
    with httpx.Client(base_url=server.url, headers={"host": "beta.test"}) as c:
        for _ in range(3):
            assert "x-added" not in c.get("/same.txt").headers
        (sites / "beta.test" / "dynlan.toml").write_text('[[route]]\npath = "/*"\nheaders = { set = { "x-added" = "1" } }\n')
        server.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 20
        while "reloaded the configuration" not in server.log():
            assert time.monotonic() < deadline, server.log()
            time.sleep(0.05)
        assert c.get("/same.txt").headers.get("x-added") == "1"
