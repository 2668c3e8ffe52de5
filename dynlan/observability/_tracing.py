"""Traces (OpenTelemetry): a span per request, a child span for the page run, and under it one for each of its
upstream HTTP calls and its host calls to the cache, the site's files and sessions.

W3C Trace Context (https://www.w3.org/TR/trace-context/) carries the trace: a request's `traceparent` makes
its span a child of the caller's; the request's own `traceparent` header is then replaced by one naming the
span that runs the page, so the page sees it (`request.headers.traceparent`), and so do the upstreams that
`proxy` rules and the page's `http.request` calls reach (a client span of their own in between).

Parents are read from the request's `traceparent` header rather than from a context variable: host calls of
PHP pages and Python sandboxes are answered in tasks of their own, where only the request is at hand.

Off unless `[trace] endpoint` is set (or a test installs its own provider): then `current()` is None and the
pipeline does nothing more per request than read it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace import use_span as use_span
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

    from dynlan.config import TraceConfig
    from dynlan.http import HttpRequest

_PROPAGATOR = TraceContextTextMapPropagator()
EXPORT_DELAY_MS = 500
"""How long finished spans wait to be sent together (the batch processor's schedule)."""

_current: Tracing | None = None


def current() -> Tracing | None:
    """This process's tracing, or None when traces are off."""
    return _current


def install(tracing: Tracing | None) -> None:
    global _current
    _current = tracing


class Tracing:
    def __init__(self, provider: TracerProvider) -> None:
        self.provider = provider
        self.tracer = provider.get_tracer("dynlan")

    @classmethod
    def from_config(cls, cfg: TraceConfig) -> Tracing | None:
        """The OTLP/HTTP exporter to `[trace] endpoint`, batched; None when no endpoint is set."""
        if not cfg.endpoint:
            return None
        # The SDK and the exporter, imported when traces are on (a tenth of a second of every worker's start).
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

        provider = TracerProvider(resource=Resource.create({"service.name": cfg.service_name}),
                                  sampler=ParentBased(TraceIdRatioBased(cfg.sample_ratio)))
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=cfg.endpoint),
                                                       schedule_delay_millis=EXPORT_DELAY_MS))
        return cls(provider)

    def shutdown(self) -> None:
        """Send what is left (at the worker's exit)."""
        self.provider.shutdown()

    # -- spans -------------------------------------------------------------------------------------------

    def start_request(self, request: HttpRequest, site: str) -> Span:
        """The server span of a request, child of the caller's `traceparent` if it sent a valid one."""
        parent = _PROPAGATOR.extract(_carrier(request))
        span = self.tracer.start_span(request.method, context=parent, kind=SpanKind.SERVER, attributes={
            "http.request.method": request.method, "url.path": request.path, "url.query": request.query_string,
            "url.scheme": request.scheme, "server.address": request.host,
            "network.protocol.version": request.http_version, "dynlan.site": site,
            "dynlan.request_id": request.request_id,
        })
        point_request_at(request, span)
        return span

    @staticmethod
    def end_request(span: Span, method: str, status: int, route: str, runtime: str) -> None:
        span.set_attribute("http.response.status_code", status)
        if route != "-":
            # The span's name is the method and the route (low cardinality), as OpenTelemetry's HTTP conventions say.
            span.update_name(f"{method} {route}")
            span.set_attribute("http.route", route)
            span.set_attribute("dynlan.runtime", runtime)
        if status >= 500:
            span.set_status(Status(StatusCode.ERROR))
        span.end()

    def child(self, request: HttpRequest, name: str, kind: SpanKind = SpanKind.INTERNAL,
              attributes: Mapping[str, str | int] | None = None) -> Span:
        """A span under the one the request's `traceparent` names (the request's, or the page's)."""
        return self.tracer.start_span(name, context=_PROPAGATOR.extract(_carrier(request)), kind=kind,
                                      attributes=attributes)

    @contextlib.contextmanager
    def host_span(self, request: HttpRequest, op: str) -> Iterator[Span]:
        """A span for a host call of the page (`cache_get`, `fs_read`, ...). A call that turns out to wait
        (`MustWait`) leaves it unended, so never exported: the waiting form has a span of its own."""
        from dynlan.host._calls import MustWait

        span = self.child(request, f"host {op}", attributes={"dynlan.host_call": op})
        try:
            yield span
        except MustWait:
            raise
        except BaseException as exc:
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, str(exc)))
            span.end()
            raise
        span.end()

    @contextlib.contextmanager
    def client_span(self, request: HttpRequest, name: str, url: str) -> Iterator[tuple[Span, str]]:
        """A client span for a call to an upstream, and the `traceparent` header that call sends."""
        span = self.child(request, name, SpanKind.CLIENT, {"url.full": url})
        with trace.use_span(span, end_on_exit=True, record_exception=True, set_status_on_exception=True):
            yield span, traceparent_of(span)


def _carrier(request: HttpRequest) -> dict[str, str]:
    carrier = {}
    for name in ("traceparent", "tracestate"):
        value = request.headers.get(name)
        if value is not None:
            carrier[name] = value
    return carrier


def traceparent_of(span: Span) -> str:
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier, context=trace.set_span_in_context(span))
    return carrier.get("traceparent", "")


def point_request_at(request: HttpRequest, span: Span) -> None:
    """The request's `traceparent` names `span` from now on: the page, its host calls and upstreams see it."""
    value = traceparent_of(span)
    if value:
        request.headers.set("traceparent", value)
