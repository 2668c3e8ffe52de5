"""The shortcuts of the per-request hot path keep what they skip: a real `dynlan serve` on loopback.

A plain 200's head is kept per file version (an edited file is served new at once, conditional and
range requests still get their own answers), a path decided static is kept for a second (a file
gone from under it is 404 at once), an HTTP/1.1 response is written to the socket directly (a
response larger than the socket's buffer still arrives whole to a slow reader), and a connection
whose next requests are always there already (pipelined) still lets the other connections in.
"""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests._server import RunningServer, run_dynlan

pytestmark = pytest.mark.e2e


class _Answers:
    """Whole answers (each with a Content-Length) read from a socket, as head + body bytes."""

    def __init__(self, s: socket.socket) -> None:
        self.s = s
        self.buffer = b""

    def read(self, count: int, timeout: float = 60) -> list[bytes]:
        deadline = time.monotonic() + timeout
        answers: list[bytes] = []
        while len(answers) < count:
            end = self.buffer.find(b"\r\n\r\n")
            if end >= 0:
                head = self.buffer[:end].lower()
                at = head.index(b"content-length:")
                length = int(head[at + 15 :].split(b"\r\n", 1)[0])
                if len(self.buffer) >= end + 4 + length:
                    answers.append(self.buffer[: end + 4 + length])
                    self.buffer = self.buffer[end + 4 + length :]
                    continue
            assert time.monotonic() < deadline, f"{len(answers)} of {count} answers in time"
            chunk = self.s.recv(1 << 20)
            assert chunk, f"closed after {len(answers)} of {count} answers"
            self.buffer += chunk
        return answers


@pytest.fixture()
def site(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    site.mkdir()
    (site / "a.txt").write_bytes(b"first version\n")
    (site / "big.bin").write_bytes(os.urandom(200 * 1024))  # kept in the file cache, sent in one write
    (site / "hello.lua").write_text('print("hello")\n')
    return site


@pytest.fixture()
def server(site: Path) -> Iterator[RunningServer]:
    with run_dynlan(site) as srv:
        yield srv


def test_an_edited_file_is_served_new_at_once_with_its_own_validators(server: RunningServer, site: Path) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        first = client.get("/a.txt")
        again = client.get("/a.txt")
        assert first.content == again.content == b"first version\n"
        assert first.headers["etag"] == again.headers["etag"]
        assert first.headers["content-length"] == "14"
        head = client.head("/a.txt")
        assert head.content == b"" and head.headers["content-length"] == "14"
        assert head.headers["etag"] == first.headers["etag"]
        # Conditional and range requests are planned on their own, whatever the plain answer keeps.
        assert client.get("/a.txt", headers={"if-none-match": first.headers["etag"]}).status_code == 304
        part = client.get("/a.txt", headers={"range": "bytes=0-4"})
        assert part.status_code == 206 and part.content == b"first"

        (site / "a.txt").write_bytes(b"the second, longer version\n")
        os.utime(site / "a.txt", ns=(time.time_ns(), time.time_ns() + 1_000_000_000))
        edited = client.get("/a.txt")
        assert edited.content == b"the second, longer version\n"
        assert edited.headers["content-length"] == str(len(edited.content))
        assert edited.headers["etag"] != first.headers["etag"]
        assert client.get("/a.txt", headers={"if-none-match": first.headers["etag"]}).status_code == 200


def test_a_file_gone_from_under_a_kept_path_is_404_at_once(server: RunningServer, site: Path) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        assert client.get("/a.txt").status_code == 200
        (site / "a.txt").unlink()
        assert client.get("/a.txt").status_code == 404
        assert client.get("/hello").text == "hello\n"  # pages are not taken for static paths


def test_a_response_larger_than_the_socket_buffer_reaches_a_slow_reader_whole(
    server: RunningServer, site: Path,
) -> None:
    expected = hashlib.sha256((site / "big.bin").read_bytes()).hexdigest()
    with socket.socket() as s:
        # A small receive window (set before connecting, so the handshake offers it): 200 KiB cannot
        # leave in one write, the server writes what fits and waits for room for the rest.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.settimeout(30)
        s.connect(("127.0.0.1", server.port))
        # Twice on one connection: the second answer starts where the first, written in parts, ended.
        s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n" * 2)
        for answer in _Answers(s).read(2):
            head, _, body = answer.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200")
            assert hashlib.sha256(body).hexdigest() == expected
    assert "Traceback" not in server.log()


def test_a_connection_with_pipelined_requests_lets_another_be_answered(server: RunningServer) -> None:
    count = 2000
    with socket.create_connection(("127.0.0.1", server.port)) as busy, \
            socket.create_connection(("127.0.0.1", server.port)) as other:
        busy.settimeout(60)
        other.settimeout(60)
        # Every request of `busy` is there before its previous answer leaves, and its answers are read as
        # they come (so no write of the server waits): nothing but the server's own turns lets `other` in.
        answers = _Answers(busy)
        started = threading.Event()
        got: list[int] = []

        def read_busy() -> None:
            got.extend(len(a) for a in answers.read(1))
            started.set()
            got.extend(len(a) for a in answers.read(count - 1, timeout=120))

        reader = threading.Thread(target=read_busy)
        busy.sendall(b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n" * count)
        reader.start()
        assert started.wait(60)
        other.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = _Answers(other).read(1)[0]
        assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"hello\n")
        reader.join(180)
        assert len(got) == count
    # In the access log (in the order answers were made), `other` comes before the end of `busy`.
    deadline = time.monotonic() + 30
    while True:
        lines = [line for line in server.log().splitlines() if '"GET /' in line]
        if len(lines) >= count + 1 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    paths = [line.split('"GET ', 1)[1].split(" ", 1)[0] for line in lines]
    assert paths.count("/a.txt") == count and "/hello" in paths
    assert paths.index("/hello") < count, "the other connection waited for every pipelined request"
