"""HTTP/2 connections over trio memory streams, timeouts on an autojump clock.

The client is the `h2` library; the server is `H2Connection` with a small app,
so stream tasks, cancellation, flow control and shutdown are seen without sockets.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from typing import Any

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.settings
import trio
import trio.testing
from hyperframe.frame import DataFrame, Frame, GoAwayFrame, HeadersFrame, RstStreamFrame

from dynlan.config import HttpConfig
from dynlan.http import Exchange
from dynlan.server._access import AccessLog
from dynlan.server._h2connection import H2Connection
from dynlan.server._state import ServerState

GET = [(":method", "GET"), (":scheme", "http"), (":authority", "example.com")]


class App:
    """/sleep waits (and notes a cancellation), /big sends 4 MiB, /sum hashes the body slowly, else echo."""

    def __init__(self) -> None:
        self.cancelled: list[str] = []
        self.finished: list[str] = []

    async def handle(self, exchange: Exchange) -> None:
        path = exchange.request.path
        try:
            if path == "/sleep":
                await trio.sleep(10)
            if path == "/big":
                await exchange.send_head(200, [("content-type", "application/octet-stream")])
                for _ in range(64):
                    await exchange.send_body(b"z" * 65536)
                await exchange.finish()
                return
            body = b""
            while chunk := await exchange.receive():
                body += chunk
                if path == "/sum":
                    await trio.sleep(0.01)  # a page that reads slowly
            out = (hashlib.sha256(body).hexdigest() if path == "/sum" else f"{exchange.request.method} {path}").encode()
            await exchange.respond(200, [("content-type", "text/plain"), ("content-length", str(len(out)))], out)
        except trio.Cancelled:
            self.cancelled.append(path)
            raise
        self.finished.append(path)


class Client:
    def __init__(self, stream: trio.abc.Stream, **settings: int) -> None:
        self.stream = stream
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        if settings:
            self.conn.local_settings = h2.settings.Settings(client=True, initial_values={
                getattr(h2.settings.SettingCodes, k): v for k, v in settings.items()})
        self.conn.initiate_connection()
        self.bodies: dict[int, bytes] = {}
        self.statuses: dict[int, str] = {}
        self.ended: set[int] = set()
        self.resets: dict[int, int] = {}
        self.goaway: h2.events.ConnectionTerminated | None = None
        self.closed = False
        self._window = trio.Event()
        self._send_lock = trio.StrictFIFOLock()

    async def flush(self) -> None:
        async with self._send_lock:
            data = self.conn.data_to_send()
            if data:
                await self.stream.send_all(data)

    async def request(self, stream_id: int, path: str, body: bytes | None = None) -> None:
        self.conn.send_headers(stream_id, [(":method", "POST" if body is not None else "GET"), (":path", path),
                                           *GET[1:]], end_stream=body is None)
        await self.flush()
        if body is not None:
            view = memoryview(body)
            while view:
                window = self.conn.local_flow_control_window(stream_id)
                if window == 0:
                    # Another task reads; it sets the event on WINDOW_UPDATE.
                    self._window = trio.Event()
                    await self._window.wait()
                    continue
                size = min(window, self.conn.max_outbound_frame_size)
                self.conn.send_data(stream_id, view[:size].tobytes())
                view = view[size:]
                await self.flush()
            self.conn.end_stream(stream_id)
            await self.flush()

    async def read_once(self) -> None:
        data = await self.stream.receive_some(65536)
        if not data:
            self.closed = True
            return
        for event in self.conn.receive_data(data):
            if isinstance(event, h2.events.ResponseReceived):
                self.statuses[event.stream_id] = dict(event.headers)[":status"]
            elif isinstance(event, h2.events.DataReceived):
                self.bodies[event.stream_id] = self.bodies.get(event.stream_id, b"") + event.data
                self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded):
                self.ended.add(event.stream_id)
            elif isinstance(event, h2.events.StreamReset):
                self.resets[event.stream_id] = event.error_code
            elif isinstance(event, h2.events.WindowUpdated):
                self._window.set()
            elif isinstance(event, h2.events.ConnectionTerminated):
                self.goaway = event
        await self.flush()

    async def until(self, done: Callable[[], bool]) -> None:
        while not self.closed and not done():
            await self.read_once()


def make(app: App, state: ServerState | None = None, **http: Any) -> tuple[H2Connection, trio.abc.Stream, io.StringIO]:
    client_stream, server_stream = trio.testing.memory_stream_pair()
    log = io.StringIO()
    conn = H2Connection(server_stream, app, HttpConfig(**http), state or ServerState(), AccessLog(log),
                        ("127.0.0.1", 5000))
    return conn, client_stream, log


async def test_streams_run_concurrently_and_log_one_line_each() -> None:
    app = App()
    conn, stream, log = make(app)
    client = Client(stream)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(conn.serve)
        for i, path in enumerate(("/a", "/b", "/c")):
            await client.request(1 + 2 * i, path)
        await client.until(lambda: client.ended >= {1, 3, 5})
        assert client.bodies == {1: b"GET /a", 3: b"GET /b", 5: b"GET /c"}
        nursery.cancel_scope.cancel()
    conn.access.flush()
    assert log.getvalue().count('" 200 ') == 3 and '"GET /b HTTP/2" 200 6 ' in log.getvalue()


async def test_reset_cancels_only_that_stream(autojump_clock: trio.testing.MockClock) -> None:
    app = App()
    conn, stream, _ = make(app)
    client = Client(stream)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(conn.serve)
        await client.request(1, "/sleep")
        await client.request(3, "/sleep")
        await trio.sleep(1)
        client.conn.reset_stream(1)
        await client.flush()
        await client.until(lambda: 3 in client.ended)
        assert app.cancelled == ["/sleep"] and app.finished == ["/sleep"]
        assert client.bodies[3] == b"GET /sleep"
        nursery.cancel_scope.cancel()


async def test_upload_is_credited_as_the_page_reads() -> None:
    app = App()
    conn, stream, _ = make(app, h2_initial_window_size=16384)
    client = Client(stream)
    body = bytes(range(256)) * 4096  # 1 MiB through a 16 KiB window
    async with trio.open_nursery() as nursery:
        nursery.start_soon(conn.serve)
        nursery.start_soon(client.request, 1, "/sum", body)
        await client.until(lambda: 1 in client.ended)
        assert client.bodies[1] == hashlib.sha256(body).hexdigest().encode()
        nursery.cancel_scope.cancel()


async def test_download_waits_for_window_updates() -> None:
    app = App()
    conn, stream, _ = make(app)
    client = Client(stream)  # default 64 KiB windows: the server must wait for credit many times
    async with trio.open_nursery() as nursery:
        nursery.start_soon(conn.serve)
        await client.request(1, "/big")
        await client.until(lambda: 1 in client.ended)
        assert client.bodies[1] == b"z" * (64 * 65536)
        nursery.cancel_scope.cancel()


async def test_a_window_made_negative_by_settings_is_waited_out() -> None:
    # RFC 9113 §6.9.2: lowering SETTINGS_INITIAL_WINDOW_SIZE mid-response can leave a
    # stream's window below zero; the server waits for credit, it does not give up.
    app = App()
    conn, stream, _ = make(app)
    client = Client(stream)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(conn.serve)
        await client.request(1, "/big")
        await client.until(lambda: len(client.bodies.get(1, b"")) > 0)
        client.conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 100})
        await client.flush()
        await trio.sleep(0.2)  # the server sees its window below zero and must wait
        client.conn.increment_flow_control_window(8 << 20, stream_id=1)
        await client.flush()
        await client.until(lambda: 1 in client.ended or 1 in client.resets)
        assert client.bodies[1] == b"z" * (64 * 65536) and not client.resets
        nursery.cancel_scope.cancel()


async def test_zero_window_times_out_the_stream(autojump_clock: trio.testing.MockClock) -> None:
    app = App()
    conn, stream, _ = make(app, send_timeout=3)
    client = Client(stream, INITIAL_WINDOW_SIZE=0)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(conn.serve)
        await client.request(1, "/big")
        started = trio.current_time()
        await client.until(lambda: 1 in client.resets)
        assert client.resets[1] == h2.errors.ErrorCodes.CANCEL
        assert 3 <= trio.current_time() - started < 4
        nursery.cancel_scope.cancel()


async def test_idle_connection_closes(autojump_clock: trio.testing.MockClock) -> None:
    conn, stream, _ = make(App(), keepalive_timeout=5)
    client = Client(stream)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(conn.serve)
        await client.request(1, "/a")
        await client.until(lambda: 1 in client.ended)
        started = trio.current_time()
        await client.until(lambda: False)
        assert client.closed and 5 <= trio.current_time() - started < 6


async def test_shutdown_sends_goaway_and_finishes_streams_in_flight(autojump_clock: trio.testing.MockClock) -> None:
    app = App()
    state = ServerState()
    conn, stream, _ = make(app, state)
    client = Client(stream)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(conn.serve)
        await client.request(1, "/sleep")
        await trio.sleep(1)
        state.begin_shutdown()
        frames: list[Frame] = []
        buffer = b""
        while data := await stream.receive_some(65536):
            buffer += data
            while len(buffer) >= 9 and len(buffer) >= 9 + int.from_bytes(buffer[:3], "big"):
                frame, length = Frame.parse_frame_header(memoryview(buffer[:9]))
                frame.parse_body(memoryview(buffer[9 : 9 + length]))
                buffer = buffer[9 + length :]
                frames.append(frame)
                if isinstance(frame, GoAwayFrame):
                    # Too late for a new stream: refused (RFC 9113 §6.8), never run.
                    late = HeadersFrame(3)
                    late.data = client.conn.encoder.encode([(":method", "GET"), (":path", "/late"), *GET[1:]])
                    late.flags.add("END_HEADERS")
                    late.flags.add("END_STREAM")
                    await stream.send_all(late.serialize())
        (goaway,) = [f for f in frames if isinstance(f, GoAwayFrame)]
        assert (goaway.last_stream_id, goaway.error_code) == (1, h2.errors.ErrorCodes.NO_ERROR)
        after = frames[frames.index(goaway) :]
        assert b"".join(f.data for f in after if isinstance(f, DataFrame) and f.stream_id == 1) == b"GET /sleep"
        assert [(f.stream_id, f.error_code) for f in after if isinstance(f, RstStreamFrame)] == [
            (3, h2.errors.ErrorCodes.REFUSED_STREAM)]
        assert app.finished == ["/sleep"]
    assert not state.connections


async def test_head_and_connection_headers() -> None:
    class Page:
        async def handle(self, exchange: Exchange) -> None:
            await exchange.respond(200, [("connection", "keep-alive"), ("transfer-encoding", "chunked"),
                                         ("content-length", "5")], b"hello")

    client_stream, server_stream = trio.testing.memory_stream_pair()
    conn = H2Connection(server_stream, Page(), HttpConfig(), ServerState(), AccessLog(io.StringIO()), None)
    client = Client(client_stream)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(conn.serve)
        client.conn.send_headers(1, [(":method", "HEAD"), (":path", "/"), *GET[1:]], end_stream=True)
        await client.flush()
        headers: list[tuple[str, str]] = []
        while 1 not in client.ended:
            data = await client_stream.receive_some(65536)
            for event in client.conn.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived):
                    headers = list(event.headers)
                elif isinstance(event, h2.events.StreamEnded):
                    client.ended.add(event.stream_id)
                assert not isinstance(event, h2.events.DataReceived)
        names = [n for n, _ in headers]
        assert "connection" not in names and "transfer-encoding" not in names
        assert ("content-length", "5") in headers
        nursery.cancel_scope.cancel()
