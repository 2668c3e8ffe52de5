"""HTTP/2 abuse: each attack ends (at most) the attacker's connection, and the server keeps serving others."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.settings
import httpx
import pytest
from hyperframe.frame import (
    ContinuationFrame,
    DataFrame,
    Frame,
    GoAwayFrame,
    HeadersFrame,
    PingFrame,
    RstStreamFrame,
    SettingsFrame,
)

from tests._server import RunningServer, run_dynlan

pytestmark = pytest.mark.e2e

CONFIG = """
[http]
keepalive_timeout = 2.0
send_timeout = 2.0
h2_max_concurrent_streams = 20
max_header_size = 16384
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    root = tmp_path_factory.mktemp("abuse")
    (root / "index.html").write_text("<h1>still here</h1>\n")
    with open(root / "big.bin", "wb") as f:
        f.truncate(8 * 1024 * 1024)
    (root / "slow.lua").write_text("sleep(5)\nprint('late')\n")
    (root / "pause.lua").write_text("sleep(0.5)\nprint('done')\n")
    with run_dynlan(root, "--no-access-log", config=CONFIG) as s:
        yield s


def still_serving(server: RunningServer) -> None:
    with httpx.Client(http1=False, http2=True, timeout=10) as client:
        r = client.get(server.url + "/")
        assert r.status_code == 200 and r.text == "<h1>still here</h1>\n"


class RawClient:
    """A client that says what an attacker says: h2 for framing, raw frames where h2 would refuse."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.settimeout(10)
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        self.conn.initiate_connection()
        self.flush()

    def flush(self) -> None:
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def headers(self, stream_id: int, path: str = "/", end: bool = True) -> None:
        self.conn.send_headers(stream_id, [(":method", "GET"), (":path", path), (":scheme", "http"),
                                           (":authority", "localhost")], end_stream=end)

    def frames_until_closed(self, timeout: float = 10) -> list[Frame]:
        """Read raw frames until the server closes the connection."""
        frames = self.read_frames(lambda _: False, timeout)
        self.sock.close()
        return frames

    def read_frames(self, enough: Callable[[list[Frame]], bool], timeout: float = 10) -> list[Frame]:
        """Read raw frames until `enough` of them came (or the server closes the connection)."""
        self.sock.settimeout(timeout)
        buffer = b""
        frames: list[Frame] = []
        while not enough(frames):
            try:
                data = self.sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not data:
                break
            buffer += data
            while len(buffer) >= 9:
                frame, length = Frame.parse_frame_header(memoryview(buffer[:9]))
                if len(buffer) < 9 + length:
                    break
                frame.parse_body(memoryview(buffer[9 : 9 + length]))
                frames.append(frame)
                buffer = buffer[9 + length :]
        return frames


def goaway_code(frames: list[Frame]) -> int | None:
    codes = [f.error_code for f in frames if isinstance(f, GoAwayFrame)]
    return codes[-1] if codes else None


def test_rapid_reset(server: RunningServer) -> None:
    # CVE-2023-44487: open and cancel streams as fast as possible.
    client = RawClient(server.port)
    try:
        for i in range(1000):
            stream_id = 1 + 2 * i
            client.headers(stream_id, "/slow")
            client.conn.reset_stream(stream_id)
            if i % 50 == 0:
                client.flush()
        client.flush()
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server hung up mid-attack
    frames = client.frames_until_closed()
    assert goaway_code(frames) == h2.errors.ErrorCodes.ENHANCE_YOUR_CALM
    still_serving(server)


def test_continuation_flood(server: RunningServer) -> None:
    # CVE-2024-27316: a header block that never ends.
    client = RawClient(server.port)
    block = client.conn.encoder.encode([(":method", "GET"), (":path", "/"), (":scheme", "http"), (":authority", "x")])
    first = HeadersFrame(1)
    first.data = block
    client.sock.sendall(first.serialize())
    filler = client.conn.encoder.encode([("x-filler", "a" * 4000)])
    try:
        for _ in range(2000):
            frame = ContinuationFrame(1)
            frame.data = filler
            client.sock.sendall(frame.serialize())
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server hung up mid-flood: that is the point
    frames = client.frames_until_closed()
    assert goaway_code(frames) is not None
    still_serving(server)


@pytest.mark.parametrize("kind", ["ping", "settings"])
def test_control_frame_flood(server: RunningServer, kind: str) -> None:
    client = RawClient(server.port)
    try:
        for i in range(5000):
            if kind == "ping":
                frame: Frame = PingFrame(0)
                frame.opaque_data = i.to_bytes(8, "big")
            else:
                frame = SettingsFrame(0)
                frame.settings = {h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 100}
            client.sock.sendall(frame.serialize())
    except (BrokenPipeError, ConnectionResetError):
        pass
    frames = client.frames_until_closed()
    assert goaway_code(frames) == h2.errors.ErrorCodes.ENHANCE_YOUR_CALM
    still_serving(server)


def test_hpack_bomb_is_refused(server: RunningServer) -> None:
    # One large header indexed once, then referenced many times: small on the wire, huge decoded.
    client = RawClient(server.port)
    big = ("x-bomb", "b" * 4000)
    client.conn.send_headers(1, [(":method", "GET"), (":path", "/"), (":scheme", "http"), (":authority", "x"), big],
                             end_stream=True)
    client.flush()
    headers = [(":method", "GET"), (":path", "/"), (":scheme", "http"), (":authority", "x")] + [big] * 200
    try:
        client.conn.send_headers(3, headers, end_stream=True)
        client.flush()
    except (BrokenPipeError, ConnectionResetError):
        pass
    frames = client.frames_until_closed(timeout=5)
    refused = [f for f in frames if f.stream_id == 3 and isinstance(f, HeadersFrame)]
    assert not refused  # never answered as a request
    still_serving(server)


def test_too_many_streams(server: RunningServer) -> None:
    client = RawClient(server.port)
    # The server announced 20; a client that ignores it opens 40 at once.
    client.conn.remote_settings = h2.settings.Settings(client=False, initial_values={
        h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 1000})
    for i in range(40):
        client.headers(1 + 2 * i, "/pause")
    client.flush()
    answered: set[int] = set()
    refused: set[int] = set()
    deadline = time.monotonic() + 10
    while len(answered | refused) < 40 and time.monotonic() < deadline:
        for event in client.conn.receive_data(client.sock.recv(65536)):
            if isinstance(event, h2.events.StreamEnded):
                answered.add(event.stream_id)
            elif isinstance(event, h2.events.StreamReset):
                assert event.error_code == h2.errors.ErrorCodes.REFUSED_STREAM
                refused.add(event.stream_id)
            elif isinstance(event, h2.events.DataReceived):
                client.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            assert not isinstance(event, h2.events.ConnectionTerminated)
        client.flush()
    # Each stream beyond the limit is refused alone (RFC 9113 §5.1.2); the rest are served.
    assert len(answered) == 20 and len(refused) == 20
    client.headers(81, "/")
    client.flush()
    ended = False
    while not ended:
        ended = any(isinstance(e, h2.events.StreamEnded) and e.stream_id == 81
                    for e in client.conn.receive_data(client.sock.recv(65536)))
    client.sock.close()
    still_serving(server)


def test_too_large_header_list_gets_431(server: RunningServer) -> None:
    client = RawClient(server.port)
    client.conn.send_headers(1, [(":method", "GET"), (":path", "/"), (":scheme", "http"), (":authority", "x"),
                                 ("cookie", "c" * 20000)], end_stream=True)
    client.headers(3, "/")
    client.flush()
    statuses: dict[int, str] = {}
    while len(statuses) < 2:
        for event in client.conn.receive_data(client.sock.recv(65536)):
            if isinstance(event, h2.events.ResponseReceived):
                statuses[event.stream_id] = dict(event.headers)[":status"]
    client.sock.close()
    assert statuses == {1: "431", 3: "200"}


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_slow_reader_with_huge_windows_does_not_fill_memory(server: RunningServer) -> None:
    # Flow control does not bound what the server queues when the client grants
    # 2 GiB windows and then reads nothing: the writer's backlog must.
    before = _rss_kib(server.worker_pid())
    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
    conn.local_settings = h2.settings.Settings(client=True, initial_values={
        h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 2**31 - 1})
    conn.initiate_connection()
    conn.increment_flow_control_window(2**31 - 1 - 65535)
    for i in range(10):  # 80 MiB asked for
        conn.send_headers(1 + 2 * i, [(":method", "GET"), (":path", "/big.bin"), (":scheme", "http"),
                                      (":authority", "x")], end_stream=True)
    sock.sendall(conn.data_to_send())
    time.sleep(1.5)
    grown = _rss_kib(server.worker_pid()) - before
    still_serving(server)
    sock.close()
    assert grown < 20 * 1024, f"server grew by {grown} KiB for a client that reads nothing"


def test_zero_window_slow_reader(server: RunningServer) -> None:
    # The client grants no window and never reads: the stream times out, nothing else waits.
    sock = socket.create_connection(("127.0.0.1", server.port))
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
    conn.local_settings = h2.settings.Settings(client=True, initial_values={
        h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0})
    conn.initiate_connection()
    conn.send_headers(1, [(":method", "GET"), (":path", "/big.bin"), (":scheme", "http"), (":authority", "x")],
                      end_stream=True)
    sock.sendall(conn.data_to_send())
    started = time.monotonic()
    still_serving(server)
    assert time.monotonic() - started < 2
    sock.settimeout(15)
    closed_or_reset = False
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not closed_or_reset:
        data = sock.recv(65536)
        if not data:
            closed_or_reset = True
            break
        for event in conn.receive_data(data):
            if isinstance(event, h2.events.StreamReset | h2.events.ConnectionTerminated):
                closed_or_reset = True
        sock.sendall(conn.data_to_send())
    sock.close()
    assert closed_or_reset
    still_serving(server)


def test_idle_connection_is_closed(server: RunningServer) -> None:
    client = RawClient(server.port)
    started = time.monotonic()
    frames = client.frames_until_closed(timeout=10)
    assert 1.5 < time.monotonic() - started < 8
    assert any(isinstance(f, SettingsFrame) for f in frames)


def test_garbage_after_the_preface(server: RunningServer) -> None:
    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\xff" * 100)
    sock.settimeout(5)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    sock.close()
    still_serving(server)


def test_page_cancelled_by_reset_only_stops_that_stream(server: RunningServer, tmp_path: Path) -> None:
    client = RawClient(server.port)
    client.headers(1, "/slow")
    client.headers(3, "/")
    client.flush()
    client.conn.reset_stream(1)
    client.flush()
    got_index = False
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not got_index:
        for event in client.conn.receive_data(client.sock.recv(65536)):
            if isinstance(event, h2.events.StreamEnded) and event.stream_id == 3:
                got_index = True
            if isinstance(event, h2.events.DataReceived):
                client.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        client.flush()
    client.sock.close()
    assert got_index, "the other stream of the connection was not answered"


@pytest.mark.parametrize("closed_by", ["client reset", "response"])
def test_frames_on_a_closed_stream_are_budgeted(server: RunningServer, closed_by: str) -> None:
    # RFC 9113 §5.1: each DATA frame on a closed stream is answered with RST_STREAM STREAM_CLOSED;
    # a client sending them in bulk must not make the server write resets without end.
    client = RawClient(server.port)
    client.headers(1, "/", end=closed_by == "response")
    client.flush()
    if closed_by == "client reset":
        client.conn.reset_stream(1)
        client.flush()
    else:
        ended = False
        while not ended:
            for event in client.conn.receive_data(client.sock.recv(65536)):
                ended = ended or isinstance(event, h2.events.StreamEnded)
    late = DataFrame(1)
    late.data = b"x"

    def stream_closed(frames: list[Frame]) -> list[Frame]:
        return [f for f in frames if isinstance(f, RstStreamFrame) and f.error_code == h2.errors.ErrorCodes.STREAM_CLOSED]

    # A few late frames, as a real client may have in flight: each is answered, the connection stays.
    client.sock.sendall(late.serialize() * 10)
    answered = client.read_frames(lambda frames: len(stream_closed(frames)) >= 10)
    assert len(stream_closed(answered)) == 10 and goaway_code(answered) is None
    try:
        for _ in range(50):
            client.sock.sendall(late.serialize() * 1000)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server hung up mid-flood
    frames = client.frames_until_closed()
    assert goaway_code(frames) == h2.errors.ErrorCodes.ENHANCE_YOUR_CALM
    # The budget (1000 at once) bounds the answers to the 50000 frames sent.
    assert len(stream_closed(frames)) <= 1500
    still_serving(server)
