"""HTTP/1.1 connections over trio memory streams, timeouts on an autojump clock."""

from __future__ import annotations

import io

import pytest
import trio
import trio.testing

from dynlan.config import HttpConfig
from dynlan.http import Exchange, HttpError
from dynlan.http._headers import InvalidResponseHead
from dynlan.server._access import AccessLog
from dynlan.server._h1conn import H1Connection
from dynlan.server._state import ServerState


class EchoApp:
    """Answers with the method, path and body it read (or 413 from the connection)."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    async def handle(self, exchange: Exchange) -> None:
        req = exchange.request
        self.seen.append(req.path)
        if req.path == "/sleep":
            await trio.sleep(5)
        body = b""
        if req.path != "/noread":
            while chunk := await exchange.receive():
                body += chunk
        out = f"{req.method} {req.path} {len(body)}".encode()
        if req.path == "/stream":
            await exchange.send_head(200, [("content-type", "text/plain")])
            for part in (b"one,", b"two,", b"three"):
                await exchange.send_body(part)
            await exchange.finish()
            return
        await exchange.respond(200, [("content-length", str(len(out)))], out)


class Client:
    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.buf = b""

    async def send(self, data: bytes) -> None:
        await self.stream.send_all(data)

    async def read_until_closed(self) -> bytes:
        while True:
            data = await self.stream.receive_some(65536)
            if not data:
                return self.buf
            self.buf += data

    async def read_response(self) -> tuple[int, dict[str, str], bytes]:
        while b"\r\n\r\n" not in self.buf:
            data = await self.stream.receive_some(65536)
            if not data:
                raise EOFError(self.buf)
            self.buf += data
        head, _, rest = self.buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        if status in (100, 204, 304):
            self.buf = rest
            return status, headers, b""
        if "content-length" in headers:
            n = int(headers["content-length"])
            while len(rest) < n:
                data = await self.stream.receive_some(65536)
                if not data:
                    raise EOFError
                rest += data
            self.buf = rest[n:]
            return status, headers, rest[:n]
        assert headers.get("transfer-encoding") == "chunked", headers
        body = b""
        while True:
            while b"\r\n" not in rest:
                rest += await self.stream.receive_some(65536)
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line, 16)
            while len(rest) < size + 2:
                rest += await self.stream.receive_some(65536)
            body += rest[:size]
            rest = rest[size + 2 :]
            if size == 0:
                self.buf = rest
                return status, headers, body


async def serve(http: HttpConfig | None = None, app: EchoApp | None = None, state: ServerState | None = None):  # type: ignore[no-untyped-def]
    client_stream, server_stream = trio.testing.memory_stream_pair()
    conn = H1Connection(
        server_stream, app or EchoApp(), http or HttpConfig(), state or ServerState(),
        AccessLog(io.StringIO()), ("127.0.0.1", 1234),
    )
    return Client(client_stream), conn


async def test_keep_alive_and_pipelining() -> None:
    client, conn = await serve()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(conn.serve)
        await client.send(
            b"GET /one HTTP/1.1\r\nHost: a\r\n\r\n"
            b"POST /two HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"
            b"GET /three HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
        )
        assert (await client.read_response())[2] == b"GET /one 0"
        assert (await client.read_response())[2] == b"POST /two 3"
        status, headers, body = await client.read_response()
        assert body == b"GET /three 0"
        assert headers["connection"] == "close"
        assert await client.read_until_closed() == b""


async def test_chunked_request_and_streamed_response() -> None:
    client, conn = await serve()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(conn.serve)
        await client.send(b"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
        assert (await client.read_response())[2] == b"POST /x 3"
        await client.send(b"GET /stream HTTP/1.1\r\nHost: a\r\n\r\n")
        status, headers, body = await client.read_response()
        assert body == b"one,two,three" and headers["transfer-encoding"] == "chunked"
        assert "date" in headers and headers["server"].startswith("dynlan/")
        nursery.cancel_scope.cancel()


async def test_expect_100_continue() -> None:
    client, conn = await serve()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(conn.serve)
        await client.send(b"PUT /x HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
        status, _, _ = await client.read_response()
        assert status == 100
        await client.send(b"data")
        assert (await client.read_response())[2] == b"PUT /x 4"
        nursery.cancel_scope.cancel()


async def test_body_over_limit_is_413_and_closes(autojump_clock: trio.testing.MockClock) -> None:
    client, conn = await serve(HttpConfig(max_body_size=10))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(conn.serve)
        await client.send(b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n" + b"x" * 100)
        status, headers, _ = await client.read_response()
        assert status == 413 and headers["connection"] == "close"
        assert await client.read_until_closed() == b""


async def test_unread_body_is_drained_for_keep_alive() -> None:
    client, conn = await serve()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(conn.serve)
        await client.send(b"POST /noread HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello")
        await client.send(b"GET /after HTTP/1.1\r\nHost: a\r\n\r\n")
        assert (await client.read_response())[2] == b"POST /noread 0"
        assert (await client.read_response())[2] == b"GET /after 0"
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"NONSENSE\r\n\r\n", 400),
        (b"BREW /pot HTTP/1.1\r\nHost: a\r\n\r\n", 501),
        (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: a\r\n\r\n", 414),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + b"b" * 20000 + b"\r\n\r\n", 431),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity, chunked\r\n\r\n0\r\n\r\n", 400),
        (b"GET /\r\n\r\n", 400),
        (b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        (b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
    ],
)
@pytest.mark.parametrize("parser", ["llhttp", "h11"])
async def test_bad_requests_get_their_status_then_close(request_bytes: bytes, status: int, parser: str, autojump_clock: trio.testing.MockClock) -> None:
    client, conn = await serve(HttpConfig(h1_parser=parser))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(conn.serve)
        await client.send(request_bytes)
        got, headers, _ = await client.read_response()
        assert got == status and headers["connection"] == "close"
        assert await client.read_until_closed() == b""


async def test_slowloris_gets_408_then_close(autojump_clock: trio.testing.MockClock) -> None:
    client, conn = await serve(HttpConfig(header_timeout=10))
    answered: list[float] = []

    async def trickle() -> None:
        for _ in range(100):  # one header byte every second: never completes
            await trio.sleep(1)
            try:
                await client.send(b"X")
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return

    async with trio.open_nursery() as nursery:
        nursery.start_soon(conn.serve)
        await client.send(b"GET / HTTP/1.1\r\n")
        start = trio.current_time()
        nursery.start_soon(trickle)
        status, _, _ = await client.read_response()
        answered.append(trio.current_time() - start)
        assert status == 408
        assert await client.read_until_closed() == b""
        nursery.cancel_scope.cancel()
    assert 10 <= answered[0] < 11


async def test_idle_keep_alive_connection_closes_quietly(autojump_clock: trio.testing.MockClock) -> None:
    client, conn = await serve(HttpConfig(keepalive_timeout=5))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(conn.serve)
        await client.send(b"GET /one HTTP/1.1\r\nHost: a\r\n\r\n")
        await client.read_response()
        start = trio.current_time()
        assert await client.read_until_closed() == b""
        assert 5 <= trio.current_time() - start < 6


async def test_body_timeout_is_408(autojump_clock: trio.testing.MockClock) -> None:
    client, conn = await serve(HttpConfig(body_timeout=3))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(conn.serve)
        await client.send(b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc")
        status, _, _ = await client.read_response()
        assert status == 408


async def test_shutdown_closes_idle_and_lets_busy_finish(autojump_clock: trio.testing.MockClock) -> None:
    state = ServerState()
    idle_client, idle_conn = await serve(state=state)
    busy_client, busy_conn = await serve(state=state)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(idle_conn.serve)
        nursery.start_soon(busy_conn.serve)
        await idle_client.send(b"GET /warm HTTP/1.1\r\nHost: a\r\n\r\n")
        await idle_client.read_response()
        await busy_client.send(b"GET /sleep HTTP/1.1\r\nHost: a\r\n\r\n")
        await trio.sleep(1)
        state.begin_shutdown()
        assert await idle_client.read_until_closed() == b""
        status, headers, body = await busy_client.read_response()
        assert body == b"GET /sleep 0" and headers["connection"] == "close"
        assert await busy_client.read_until_closed() == b""


class FailingApp:
    async def handle(self, exchange: Exchange) -> None:
        raise HttpError(413, "too big", close=True)


async def test_http_error_from_app_is_answered(autojump_clock: trio.testing.MockClock) -> None:
    client, conn = await serve(app=FailingApp())  # type: ignore[arg-type]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(conn.serve)
        await client.send(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        status, _, _ = await client.read_response()
        assert status == 413


class BadHeadApp:
    """/bad answers with a head no core may send (a 1xx final status, a split header), like a page
    that got past the page API would; when it is refused, 500 on the same exchange, as dynlan's app does."""

    def __init__(self, status: int, headers: list[tuple[str, str]]) -> None:
        self.status = status
        self.headers = headers
        self.refused: list[bool] = []

    async def handle(self, exchange: Exchange) -> None:
        if exchange.request.path == "/next":
            await exchange.respond(200, [("content-length", "4")], b"next")
            return
        try:
            await exchange.respond(self.status, self.headers, b"page output")
        except InvalidResponseHead:
            self.refused.append(not exchange.response_started)
            await exchange.respond(500, [("content-length", "5")], b"error")


@pytest.mark.parametrize(
    ("status", "headers"),
    [(100, []), (101, [("upgrade", "h2c")]), (200, [("x-v", "a\r\nset-cookie: s=1")]), (200, [("x y", "1")])],
)
@pytest.mark.parametrize("parser", ["llhttp", "h11"])
async def test_refused_head_is_answered_500_and_the_connection_stays_in_step(
    status: int, headers: list[tuple[str, str]], parser: str,
) -> None:
    app = BadHeadApp(status, headers)
    client, conn = await serve(HttpConfig(h1_parser=parser), app=app)  # type: ignore[arg-type]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(conn.serve)
        await client.send(b"GET /bad HTTP/1.1\r\nHost: a\r\n\r\nGET /next HTTP/1.1\r\nHost: a\r\n\r\n")
        got, response_headers, body = await client.read_response()
        assert (got, body) == (500, b"error")
        assert "set-cookie" not in response_headers and "upgrade" not in response_headers
        assert (await client.read_response())[2] == b"next"
        nursery.cancel_scope.cancel()
    assert app.refused == [True]
