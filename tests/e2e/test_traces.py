"""Traces: spans per request, page and upstream call, W3C traceparent through them; the SDK's in-memory exporter
in process, and the OTLP/HTTP exporter to a receiver this test runs."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
import trio
import trio.testing
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from dynlan.app import App, discover_sites
from dynlan.config import Config, HttpConfig
from dynlan.http import Exchange
from dynlan.observability._tracing import Tracing, install
from dynlan.server._access import AccessLog
from dynlan.server._h1conn import H1Connection
from dynlan.server._state import ServerState
from tests._server import run_dynlan

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{CALLER_SPAN}-01"
OTHER_TRACE = "0af7651916cd43dd8448eb211c80319c"
OTHER = f"00-{OTHER_TRACE}-b7ad6b7169203331-01"

PAGE = """local r = http.request{{url = "http://127.0.0.1:{port}/up"}}
cache.set("k", "v")
assert(cache.get("k") == "v")
assert(#fs.read("call.lua") > 0)
print(request.headers.traceparent)
print(r.body)
"""


class Upstream:
    """An HTTP/1.1 server (dynlan's own connection code) that answers with the traceparent it was sent."""

    def __init__(self) -> None:
        self.seen: list[str | None] = []

    async def handle(self, exchange: Exchange) -> None:
        value = exchange.request.headers.get("traceparent")
        self.seen.append(value)
        body = (value or "none").encode()
        await exchange.respond(200, [("content-length", str(len(body)))], body)


async def _request(app: App, head: bytes) -> bytes:
    client, server = trio.testing.memory_stream_pair()
    conn = H1Connection(server, app, HttpConfig(), ServerState(), AccessLog(io.StringIO()), ("127.0.0.1", 1))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(conn.serve)
        await client.send_all(head)
        data = b""
        while chunk := await client.receive_some(65536):
            data += chunk
    return data


async def test_spans_to_the_in_memory_exporter(tmp_path: Path) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    upstream = Upstream()
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    site = tmp_path / "a.test"
    site.mkdir()
    (site / "call.lua").write_text(PAGE.format(port=port))
    (site / "dynlan.toml").write_text(f'[outbound]\nallow = ["127.0.0.1:{port}"]\n\n[[route]]\npath = "/up/*"\n'
                                      f'proxy = {{ upstreams = ["http://127.0.0.1:{port}"] }}\n')
    config = Config()
    config.outbound.allow = [f"127.0.0.1:{port}"]
    sites, default = discover_sites(tmp_path / "a.test", config)
    app = App(config, sites, default)
    app.prepare()
    install(Tracing(provider))
    try:
        async with trio.open_nursery() as nursery, app.running():
            async def serve_upstream(stream: trio.SocketStream) -> None:
                await H1Connection(stream, upstream, HttpConfig(), ServerState(), AccessLog(io.StringIO()),
                                   None).serve()

            nursery.start_soon(trio.serve_listeners, serve_upstream, listeners)
            with trio.fail_after(60):
                answer = await _request(app, b"GET /call?x=1 HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n"
                                        b"traceparent: " + TRACEPARENT.encode() + b"\r\n\r\n")
                proxied = await _request(app, b"GET /up/x HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n"
                                         b"traceparent: " + OTHER.encode() + b"\r\n\r\n")
            nursery.cancel_scope.cancel()
    finally:
        install(None)
    assert answer.startswith(b"HTTP/1.1 200"), answer
    assert proxied.startswith(b"HTTP/1.1 200"), proxied
    finished = exporter.get_finished_spans()
    # The proxied request: its server span, then a client span for the hop, whose id the upstream got.
    hop = {span.name: span for span in finished if span.context is not None
           and f"{span.context.trace_id:032x}" == OTHER_TRACE}
    assert set(hop) == {"GET proxy", "proxy GET"}, hop
    hop_server, hop_client = hop["GET proxy"], hop["proxy GET"]
    assert hop_client.kind == SpanKind.CLIENT and hop_client.parent is not None and hop_server.context is not None
    assert hop_client.parent.span_id == hop_server.context.span_id
    assert hop_client.context is not None
    assert upstream.seen[-1] == f"00-{OTHER_TRACE}-{hop_client.context.span_id:016x}-01"
    assert proxied.endswith(upstream.seen[-1].encode())
    upstream.seen.pop()
    spans = {span.name: span for span in finished if span.context is not None
             and f"{span.context.trace_id:032x}" == TRACE_ID}
    host_calls = ("host cache_set", "host cache_get", "host fs_read_bytes")
    assert set(spans) == {"GET /call", "page /call", "http.request GET", *host_calls}, spans
    server, page, call = spans["GET /call"], spans["page /call"], spans["http.request GET"]
    for name in host_calls:
        # The page's host calls, each under the page's span.
        host_call = spans[name]
        assert host_call.parent is not None and page.context is not None
        assert host_call.parent.span_id == page.context.span_id
        assert host_call.attributes is not None and host_call.attributes["dynlan.host_call"] == name[5:]
    # One trace, the caller's: server <- caller, page <- server, upstream call <- page.
    for span in (server, page, call):
        assert span.context is not None and f"{span.context.trace_id:032x}" == TRACE_ID
    assert server.parent is not None and f"{server.parent.span_id:016x}" == CALLER_SPAN
    assert server.kind == SpanKind.SERVER and call.kind == SpanKind.CLIENT
    assert page.parent is not None and server.context is not None and page.parent.span_id == server.context.span_id
    assert call.parent is not None and page.context is not None and call.parent.span_id == page.context.span_id
    assert server.attributes is not None and server.attributes["http.response.status_code"] == 200
    assert server.attributes["http.route"] == "/call" and server.attributes["dynlan.runtime"] == "lua"
    assert call.attributes is not None and call.attributes["http.response.status_code"] == 200
    # The page saw its own span in `traceparent`; the upstream saw the call's.
    body = answer.split(b"\r\n\r\n", 1)[1]
    assert f"00-{TRACE_ID}-{page.context.span_id:016x}-01".encode() in body
    assert call.context is not None
    assert upstream.seen == [f"00-{TRACE_ID}-{call.context.span_id:016x}-01"]


class _Receiver(BaseHTTPRequestHandler):
    requests: list[ExportTraceServiceRequest] = []

    def do_POST(self) -> None:  # noqa: N802 - the handler's name
        length = int(self.headers["content-length"])
        message = ExportTraceServiceRequest()
        message.ParseFromString(self.rfile.read(length))
        self.requests.append(message)
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[ExportTraceServiceRequest]]]:
    _Receiver.requests = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1/traces", _Receiver.requests
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_spans_reach_an_otlp_http_receiver(tmp_path: Path, receiver: tuple[str, list[ExportTraceServiceRequest]]) \
        -> None:
    endpoint, received = receiver
    (tmp_path / "hello.lua").write_text("print(request.headers.traceparent)\n")
    config = f'[server]\ngrace_period = 0.5\n[trace]\nendpoint = "{endpoint}"\nservice_name = "dynlan-test"\n'
    with run_dynlan(tmp_path, "--no-access-log", config=config) as server:
        r = httpx.get(server.url + "/hello", headers={"traceparent": TRACEPARENT}, timeout=30)
        assert r.status_code == 200
        # Without a caller's traceparent the server starts a trace of its own, and the page sees it.
        own = httpx.get(server.url + "/hello", timeout=30).text.strip()
        assert own.startswith("00-") and TRACE_ID not in own
        deadline = time.monotonic() + 30
        while True:
            spans = [(resource, span) for message in list(received) for resource in message.resource_spans
                     for scope in resource.scope_spans for span in scope.spans]
            if sum(1 for _, span in spans if span.trace_id.hex() == TRACE_ID) >= 2:
                break
            assert time.monotonic() < deadline, f"spans did not arrive: {spans}"
            time.sleep(0.05)
    mine = {span.name: (resource, span) for resource, span in spans if span.trace_id.hex() == TRACE_ID}
    assert set(mine) == {"GET /hello", "page /hello"}
    resource, request_span = mine["GET /hello"]
    _, page_span = mine["page /hello"]
    names = {attr.key: attr.value.string_value for attr in resource.resource.attributes}
    assert names["service.name"] == "dynlan-test"
    assert request_span.parent_span_id.hex() == CALLER_SPAN
    assert page_span.parent_span_id == request_span.span_id
    assert r.text.strip() == f"00-{TRACE_ID}-{page_span.span_id.hex()}-01"
