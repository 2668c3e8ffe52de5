"""A worker's request metrics: plain ints in dicts, counted per request and read by the admin listener's poll.

The admin listener (in the supervisor) asks every worker for a snapshot once a second and when it is scraped
(`snapshot()`, the `metrics` control operation); it, not the worker, turns them into Prometheus families. So
the cost per request is a few dict updates, with no lock and no `prometheus_client` call on the hot path.
"""

from __future__ import annotations

import contextvars
import os
import resource
import time
from bisect import bisect_left
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dynlan.app import App
    from dynlan.server._state import ServerState

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
"""Upper bounds (seconds) of the request latency histogram; a last bucket takes the rest (+Inf)."""

NO_ROUTE = ("-", "-", "-")
"""(site, route, runtime) of a request no site's pipeline saw (a malformed request, a 413 before routing)."""

LABELS: contextvars.ContextVar[tuple[str, str, str]] = contextvars.ContextVar("dynlan_labels", default=NO_ROUTE)
"""The (site, route, runtime) the pipeline settled on for the request the current task answers.

Set by the pipeline, read and reset by the access log in the same task (a connection's task on HTTP/1.1, the
stream's on HTTP/2 and HTTP/3): a contextvar, so the labels never travel through the exchange or the host."""

_PROTOCOLS = {"1.1": "http/1.1", "1.0": "http/1.0", "2": "h2", "3": "h3"}
_CLASSES = ("1xx", "1xx", "2xx", "3xx", "4xx", "5xx")
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def status_class(status: int) -> str:
    return _CLASSES[status // 100] if 100 <= status < 600 else "other"


class RequestMetrics:
    """Counters of the requests this worker answered (what the access log sees, on every protocol)."""

    __slots__ = ("_cells", "bytes_sent", "latency", "requests")

    def __init__(self) -> None:
        self.requests: dict[tuple[str, str, str, str, str], list[int]] = {}
        """(site, route, runtime, protocol, status class) -> [requests]."""
        self.latency: dict[tuple[str, str, str], list[float]] = {}
        """(site, runtime, protocol) -> counts per bucket (the last: past every bound), then the sum of seconds."""
        self.bytes_sent: dict[tuple[str, str], list[int]] = {}
        """(site, protocol) -> [response bytes sent]."""
        self._cells: dict[tuple[tuple[str, str, str], str, int], tuple[list[int], list[float], list[int]]] = {}
        """(labels, version, status) -> the three cells a request with them adds to: one lookup per request."""

    def record(self, labels: tuple[str, str, str], version: str, status: int, sent: int, seconds: float) -> None:
        cells = self._cells.get((labels, version, status))
        if cells is None:
            cells = self._new_cells(labels, version, status)
        cells[0][0] += 1
        counts = cells[1]
        counts[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        counts[-1] += seconds
        cells[2][0] += sent

    def _new_cells(self, labels: tuple[str, str, str], version: str, status: int) -> \
            tuple[list[int], list[float], list[int]]:
        site, route, runtime = labels
        protocol = _PROTOCOLS.get(version, version)
        requests = self.requests.setdefault((site, route, runtime, protocol, status_class(status)), [0])
        counts = self.latency.setdefault((site, runtime, protocol), [0.0] * (len(LATENCY_BUCKETS) + 2))
        sent = self.bytes_sent.setdefault((site, protocol), [0])
        cells = self._cells[(labels, version, status)] = (requests, counts, sent)
        return cells


def connection_counts(state: ServerState) -> dict[str, int]:
    """Open connections by protocol, read from the server's connection set when asked (nothing per request)."""
    counts: dict[str, int] = {}
    for conn in list(state.connections):
        kind = type(conn).__name__
        protocol = {"H1Connection": "http/1.1", "H2Connection": "h2", "H3Connection": "h3"}.get(kind, "handshake")
        counts[protocol] = counts.get(protocol, 0) + 1
    return counts


def resident_bytes() -> int:
    """This process's resident memory (Linux /proc)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * _PAGE_SIZE
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def snapshot(app: App, state: ServerState, metrics: RequestMetrics | None) -> dict[str, Any]:
    """Everything the admin listener shows of this worker, as JSON-ready values."""
    host = app.host
    now = time.monotonic()
    inflight = []
    if host is not None:
        for request_id, (site_name, page, started) in list(host.inflight.items()):
            site = app.sites.get(site_name)
            budget = site.config.limits.wall_time if site is not None else app.config.limits.wall_time
            router = site.router if site is not None else None
            runtime = router.runtime_for(page.rpartition("/")[2]) if router is not None else None
            elapsed = now - started
            inflight.append({"id": request_id, "site": site_name, "page": page, "runtime": runtime or "-",
                             "elapsed": round(elapsed, 3), "budget": budget,
                             "used": round(elapsed / budget, 4) if budget > 0 else 0.0})
    runtimes: dict[str, dict[str, int | float]] = {}
    for name, runtime in app.runtimes.items():
        try:
            runtimes[name] = dict(runtime.statistics())
        except Exception:  # a runtime's statistics must not take the snapshot down
            runtimes[name] = {}
    cache = host.cache.statistics() if host is not None else {}
    responses = host.responses.statistics() if host is not None and host.responses is not None else {}
    out: dict[str, Any] = {
        "pid": os.getpid(),
        "ready": host is not None and not state.shutting_down,
        "rss": resident_bytes(),
        "connections": connection_counts(state),
        "inflight": inflight,
        "counters": dict(host.counters) if host is not None else {},
        "cache": cache,
        "responses": responses,
        "runtimes": runtimes,
        "requests": [], "latency": [], "bytes": [],
    }
    if metrics is not None:
        out["requests"] = [[*key, cell[0]] for key, cell in metrics.requests.items()]
        out["latency"] = [[*key, list(counts)] for key, counts in metrics.latency.items()]
        out["bytes"] = [[*key, cell[0]] for key, cell in metrics.bytes_sent.items()]
    return out
