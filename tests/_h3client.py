"""A small HTTP/3 client on aioquic's own QUIC and HTTP/3 stacks (asyncio), for tests and the bench."""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, field

from aioquic.asyncio.client import connect
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.h3.connection import H3_ALPN, H3Connection
from aioquic.h3.events import DataReceived, H3Event, HeadersReceived
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import QuicEvent, StreamReset


@dataclass
class H3Response:
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    reset: bool = False
    trailers: dict[str, str] = field(default_factory=dict)
    """The fields of a HEADERS frame after the response's head."""


class H3Client(QuicConnectionProtocol):
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.http = H3Connection(self._quic)
        self._waiting: dict[int, tuple[H3Response, asyncio.Future[H3Response]]] = {}

    def quic_event_received(self, event: QuicEvent) -> None:
        if isinstance(event, StreamReset) and event.stream_id in self._waiting:
            response, future = self._waiting.pop(event.stream_id)
            response.reset = True
            future.set_result(response)
            return
        for h3_event in self.http.handle_event(event):
            self._h3_event(h3_event)

    def _h3_event(self, event: H3Event) -> None:
        if not isinstance(event, HeadersReceived | DataReceived) or event.stream_id not in self._waiting:
            return
        response, future = self._waiting[event.stream_id]
        if isinstance(event, HeadersReceived) and response.status:
            response.trailers.update((name.decode(), value.decode()) for name, value in event.headers)
        elif isinstance(event, HeadersReceived):
            for name, value in event.headers:
                if name == b":status":
                    response.status = int(value)
                else:
                    response.headers[name.decode()] = value.decode()
        else:
            response.body += event.data
        if event.stream_ended:
            del self._waiting[event.stream_id]
            future.set_result(response)

    async def request(self, method: str, authority: str, path: str, body: bytes = b"",
                      headers: dict[str, str] | None = None, trailers: dict[str, str] | None = None) -> H3Response:
        stream_id = self._quic.get_next_available_stream_id()
        fields = [(b":method", method.encode()), (b":scheme", b"https"), (b":authority", authority.encode()),
                  (b":path", path.encode())]
        fields += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
        self.http.send_headers(stream_id, fields, end_stream=not body and not trailers)
        if body:
            self.http.send_data(stream_id, body, end_stream=not trailers)
        if trailers:
            self.http.send_headers(stream_id, [(k.lower().encode(), v.encode()) for k, v in trailers.items()],
                                   end_stream=True)
        future: asyncio.Future[H3Response] = asyncio.get_running_loop().create_future()
        self._waiting[stream_id] = (H3Response(), future)
        self.transmit()
        return await future


def client_configuration(cafile: str | None) -> QuicConfiguration:
    config = QuicConfiguration(is_client=True, alpn_protocols=H3_ALPN, server_name="localhost")
    if cafile:
        config.load_verify_locations(cafile)
    else:
        config.verify_mode = ssl.CERT_NONE
    return config


async def fetch_all(port: int, requests: list[tuple[str, str, bytes]], cafile: str | None = None) -> list[H3Response]:
    """Send (method, path, body) requests concurrently on one QUIC connection."""
    async with connect("127.0.0.1", port, configuration=client_configuration(cafile),
                       create_protocol=H3Client) as client:
        assert isinstance(client, H3Client)
        authority = f"localhost:{port}"
        return list(await asyncio.gather(*(client.request(m, authority, p, b) for m, p, b in requests)))


def fetch(port: int, requests: list[tuple[str, str, bytes]], cafile: str | None = None,
          timeout: float = 60) -> list[H3Response]:
    return asyncio.run(asyncio.wait_for(fetch_all(port, requests, cafile), timeout))
