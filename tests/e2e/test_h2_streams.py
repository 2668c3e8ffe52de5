"""HTTP/2 stream states with raw frames (RFC 9113 §5.1, §6.9, §8.1), over h2c and TLS.

A request's frames are checked to its end even when the page (or a 405) has
answered already; what a client sends on a stream the server has reset is
answered with STREAM_CLOSED; a client that drops or resets its connection is a
line at info level, never a traceback.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

import h2.errors
import hpack
import pytest
from hyperframe.frame import (
    DataFrame,
    Frame,
    GoAwayFrame,
    HeadersFrame,
    PingFrame,
    RstStreamFrame,
    SettingsFrame,
    WindowUpdateFrame,
)

from dynlan.server._h2connection import DRAIN_SECONDS
from dynlan.server._tls import development_certificate
from tests._server import RunningServer, run_dynlan

pytestmark = pytest.mark.e2e

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
WINDOW = 65535  # the server's h2_initial_window_size (the default)

F = TypeVar("F", bound=Frame)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("h2streams")
    (root / "index.html").write_text("<h1>index</h1>\n")
    (root / "hello.lua").write_text("print('hello')\n")
    (root / "slow.lua").write_text("sleep(5)\nprint('late')\n")
    return root


@pytest.fixture(scope="module", params=["h2c", "tls"])
def server(request: pytest.FixtureRequest, site: Path,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, ssl.SSLContext | None]]:
    if request.param == "h2c":
        with run_dynlan(site) as s:
            yield s, None
        return
    cert, key = development_certificate(tmp_path_factory.mktemp("cert"))
    ctx = ssl.create_default_context(cafile=cert)
    ctx.set_alpn_protocols(["h2"])
    with run_dynlan(site, "--tls-cert", cert, "--tls-key", key) as s:
        yield s, ctx


class Raw:
    """A client that writes frames by hand (h2 would refuse to send the bad ones) and reads frames back."""

    def __init__(self, server: tuple[RunningServer, ssl.SSLContext | None]) -> None:
        running, ctx = server
        sock = socket.create_connection(("127.0.0.1", running.port))
        self.sock = ctx.wrap_socket(sock, server_hostname="localhost") if ctx else sock
        self.sock.settimeout(30)
        self.encoder = hpack.Encoder()
        self.buffer = b""
        self.sock.sendall(PREFACE + SettingsFrame(0).serialize())

    def send(self, *frames: Frame) -> None:
        self.sock.sendall(b"".join(f.serialize() for f in frames))

    def headers(self, stream_id: int, fields: list[tuple[str, str]], *flags: str) -> HeadersFrame:
        frame = HeadersFrame(stream_id, flags=("END_HEADERS", *flags))
        frame.data = self.encoder.encode(fields)
        return frame

    def request(self, stream_id: int, path: str, method: str = "POST", *flags: str,
                extra: tuple[tuple[str, str], ...] = ()) -> HeadersFrame:
        return self.headers(stream_id, [(":method", method), (":path", path), (":scheme", "https"),
                                        (":authority", "localhost"), *extra], *flags)

    def next_frame(self, timeout: float = 30) -> Frame | None:
        """The next frame from the server (SETTINGS are acknowledged), None when it closed."""
        self.sock.settimeout(timeout)
        while True:
            if len(self.buffer) >= 9:
                frame, length = Frame.parse_frame_header(memoryview(self.buffer[:9]))
                if len(self.buffer) >= 9 + length:
                    frame.parse_body(memoryview(self.buffer[9 : 9 + length]))
                    self.buffer = self.buffer[9 + length :]
                    if isinstance(frame, SettingsFrame) and "ACK" not in frame.flags:
                        self.send(SettingsFrame(0, flags=("ACK",)))
                    return frame
            try:
                data = self.sock.recv(65536)
            except (ConnectionResetError, ssl.SSLError):
                data = b""
            if not data:
                return None
            self.buffer += data

    def wait_for(self, wanted: type[F], stream_id: int, flag: str | None = None) -> F:
        while True:
            frame = self.next_frame()
            assert frame is not None, f"the connection closed before a {wanted.__name__} on stream {stream_id}"
            if isinstance(frame, wanted) and frame.stream_id == stream_id and (flag is None or flag in frame.flags):
                return frame

    def response(self, stream_id: int) -> None:
        """Read until the response on `stream_id` is complete (END_STREAM)."""
        while True:
            frame = self.next_frame()
            assert frame is not None, "the connection closed before the response ended"
            assert not isinstance(frame, RstStreamFrame | GoAwayFrame), frame
            if isinstance(frame, HeadersFrame | DataFrame) and frame.stream_id == stream_id \
                    and "END_STREAM" in frame.flags:
                return

    def error(self) -> tuple[str, int]:
        """The next RST_STREAM or GOAWAY: ("stream" or "connection", its error code)."""
        while True:
            frame = self.next_frame()
            assert frame is not None, "the connection closed without RST_STREAM or GOAWAY"
            if isinstance(frame, RstStreamFrame):
                return "stream", frame.error_code
            if isinstance(frame, GoAwayFrame):
                return "connection", frame.error_code

    def close(self) -> None:
        self.sock.close()


def data(stream_id: int, payload: bytes, *flags: str) -> DataFrame:
    frame = DataFrame(stream_id, flags=flags)
    frame.data = payload
    return frame


def window_update(stream_id: int, increment: int) -> WindowUpdateFrame:
    frame = WindowUpdateFrame(stream_id)
    frame.window_increment = increment
    return frame


BAD_ENDINGS = ["second-headers", "pseudo-header-in-trailers", "short-body", "long-body"]


@pytest.mark.parametrize("path", ["/hello", "/index.html"])  # a page's 200 and a static file's 405
@pytest.mark.parametrize("ending", BAD_ENDINGS)
def test_a_request_is_checked_after_its_response(server: tuple[RunningServer, ssl.SSLContext | None],
                                                 path: str, ending: str) -> None:
    client = Raw(server)
    client.send(client.request(1, path, extra=(("content-length", "10"),)))
    client.response(1)  # answered before the request ended (RFC 9113 §8.1)
    if ending == "second-headers":
        # Trailers must end the stream (RFC 9113 §8.1): a HEADERS without END_STREAM is malformed.
        client.send(client.headers(1, [("x-more", "1")]))
    elif ending == "pseudo-header-in-trailers":
        client.send(client.headers(1, [(":path", "/other")], "END_STREAM"))  # RFC 9113 §8.1
    elif ending == "short-body":
        client.send(data(1, b"abc", "END_STREAM"))  # RFC 9113 §8.1.1: content-length says 10
    else:
        client.send(data(1, b"0123456789abc"))
    assert client.error() in {("stream", h2.errors.ErrorCodes.PROTOCOL_ERROR),
                              ("connection", h2.errors.ErrorCodes.PROTOCOL_ERROR)}
    client.close()


def test_a_request_that_ends_after_its_response_is_fine(server: tuple[RunningServer, ssl.SSLContext | None]) -> None:
    client = Raw(server)
    client.send(client.request(1, "/index.html", extra=(("content-length", "6"),)))
    client.response(1)
    client.send(data(1, b"abc"), client.headers(1, [("x-checksum", "1")], "END_STREAM"))
    # The connection goes on: the next request is answered, nothing was reset.
    client.send(client.request(3, "/hello", "GET", "END_STREAM"))
    while (frame := client.next_frame()) is not None:
        assert not isinstance(frame, RstStreamFrame | GoAwayFrame), frame
        if isinstance(frame, DataFrame) and frame.stream_id == 3 and "END_STREAM" in frame.flags:
            break
    assert frame is not None
    client.close()


@pytest.mark.parametrize("when", ["with-the-request", "after-the-response", "after-the-stream-ended"])
def test_window_update_past_the_maximum_resets_the_stream(server: tuple[RunningServer, ssl.SSLContext | None],
                                                          when: str) -> None:
    # RFC 9113 §6.9.1: a stream window past 2^31-1 is a FLOW_CONTROL_ERROR stream error.
    client = Raw(server)
    overflow = [window_update(1, 2**31 - 1), window_update(1, 2**31 - 1)]
    if when == "with-the-request":
        client.send(client.request(1, "/slow", "GET"), *overflow)
    elif when == "after-the-response":
        client.send(client.request(1, "/index.html", "GET"))  # the request goes on after the response
        client.response(1)
        client.send(*overflow)
    else:
        client.send(client.request(1, "/index.html", "GET", "END_STREAM"))  # both sides end the stream
        client.response(1)
        for frame in overflow:  # each in a write (a TLS record) of its own
            client.send(frame)
    frame = client.wait_for(RstStreamFrame, 1)
    assert frame.error_code == h2.errors.ErrorCodes.FLOW_CONTROL_ERROR
    client.close()


def test_frames_after_the_client_reset_get_stream_closed(
        server: tuple[RunningServer, ssl.SSLContext | None]) -> None:
    client = Raw(server)
    reset = RstStreamFrame(1)
    reset.error_code = h2.errors.ErrorCodes.CANCEL
    client.send(client.request(1, "/slow"), reset, data(1, b"late"))
    # RFC 9113 §5.1 (closed): any frame but PRIORITY after RST_STREAM is a STREAM_CLOSED error.
    assert client.error() in {("stream", h2.errors.ErrorCodes.STREAM_CLOSED),
                              ("connection", h2.errors.ErrorCodes.STREAM_CLOSED)}
    client.close()


@pytest.mark.parametrize("stop", ["window-used-up", "client-silent"])
def test_an_unread_body_is_stopped_then_its_frames_get_stream_closed(
        server: tuple[RunningServer, ssl.SSLContext | None], stop: str) -> None:
    client = Raw(server)
    client.send(client.request(1, "/index.html"))
    client.response(1)
    started = time.monotonic()
    if stop == "window-used-up":
        # The stream's window is not credited for a body nobody reads: once it is used up,
        # RST_STREAM NO_ERROR asks the client to stop (RFC 9113 §8.1).
        client.send(*(data(1, b"x" * 16383) for _ in range(4)), data(1, b"x" * (WINDOW - 4 * 16383)))
    reset = client.wait_for(RstStreamFrame, 1)
    assert reset.error_code == h2.errors.ErrorCodes.NO_ERROR
    if stop == "window-used-up":
        assert time.monotonic() - started < DRAIN_SECONDS  # the window, not the drain's time limit, ended it
    client.send(data(1, b"late"))
    assert client.error() == ("stream", h2.errors.ErrorCodes.STREAM_CLOSED)
    # The connection window was given back for the body nobody read: the next upload goes through.
    client.send(client.request(3, "/hello", "POST"), data(3, b"y" * 16000, "END_STREAM"))
    client.response(3)
    client.close()


@pytest.mark.parametrize("how", ["reset", "drop"])
def test_a_client_that_goes_away_is_logged_without_a_traceback(
        server: tuple[RunningServer, ssl.SSLContext | None], how: str) -> None:
    running, _ = server
    client = Raw(server)
    query = f"gone={how}"
    # The PING's answer says the server has read the request before it.
    client.send(client.request(1, f"/slow?{query}", "GET", "END_STREAM"), PingFrame(0))
    client.wait_for(PingFrame, 0, "ACK")
    if how == "reset":
        # SO_LINGER with a zero timeout: close() sends a TCP RST.
        client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    else:
        client.sock.shutdown(socket.SHUT_RDWR)
    client.close()
    # The server notices: the stream's page is cancelled (499 in the access log) well before it would end.
    deadline = time.monotonic() + 30
    while f"/slow?{query} HTTP/2\" 499" not in running.log():
        assert time.monotonic() < deadline, running.log()
        time.sleep(0.05)
    log = running.log()
    assert "Traceback" not in log and " ERROR " not in log, log
    if how == "reset":
        assert " INFO dynlan: HTTP/2 connection from 127.0.0.1:" in log
