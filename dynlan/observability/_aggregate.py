"""The supervisor's view of every worker: their snapshots summed, as Prometheus families and as history.

Counters are kept across worker restarts: when a worker ends, the last snapshot it gave is folded into
`retired`, so a total never goes back because a worker was replaced (it may miss what the ended worker counted
after its last poll, a second at most).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from dynlan.observability._metrics import LATENCY_BUCKETS

CounterKey = tuple[str, tuple[str, ...]]
"""(family, label values) of one counter sample."""

_CACHE_COUNTERS = ("hits", "misses", "evictions")
_RESPONSE_COUNTERS = ("hits", "misses", "evictions", "stale_served", "stores", "purged")
_POOL_EVENTS = ("started", "replaced", "recycled", "killed", "strays", "stopped_idle", "spares")

SECONDS_KEPT = 3600
MINUTES_KEPT = 1440


def counters_of(snap: dict[str, Any]) -> dict[CounterKey, float]:
    """The monotonic counters of one worker's snapshot, flattened."""
    out: dict[CounterKey, float] = {}
    for *labels, n in snap.get("requests", ()):
        out[("requests", tuple(labels))] = n
    for *labels, n in snap.get("bytes", ()):
        out[("bytes", tuple(labels))] = n
    for name, n in snap.get("counters", {}).items():
        if name.startswith("budget."):
            out[("budget", (name[7:],))] = n
        else:
            out[("host", (name,))] = n
    cache = snap.get("cache", {})
    for name in _CACHE_COUNTERS:
        if name in cache:
            out[("cache", (name,))] = cache[name]
    responses = snap.get("responses", {})
    for name in _RESPONSE_COUNTERS:
        if name in responses:
            out[("responses", (name,))] = responses[name]
    for runtime, stats in snap.get("runtimes", {}).items():
        for event in _POOL_EVENTS:
            if f"pool.{event}" in stats:
                out[("pool", (runtime, event))] = stats[f"pool.{event}"]
    return out


def latency_of(snap: dict[str, Any]) -> dict[tuple[str, ...], list[float]]:
    return {tuple(labels): list(counts) for *labels, counts in snap.get("latency", ())}


def _add_into(into: dict[Any, Any], more: dict[Any, Any]) -> None:
    for key, value in more.items():
        if isinstance(value, list):
            have = into.get(key)
            into[key] = [a + b for a, b in zip(have, value, strict=True)] if have is not None else list(value)
        else:
            into[key] = into.get(key, 0) + value


def quantile(counts: list[float], q: float) -> float:
    """The q-quantile (seconds) of a latency histogram (counts per bucket, then the sum), interpolated linearly in
    its bucket as Prometheus's histogram_quantile does; 0 with no requests."""
    total = sum(counts[:-1])
    if total <= 0:
        return 0.0
    rank = q * total
    seen = 0.0
    for i, n in enumerate(counts[:-1]):
        if seen + n >= rank and n > 0:
            if i >= len(LATENCY_BUCKETS):
                return LATENCY_BUCKETS[-1]
            low = LATENCY_BUCKETS[i - 1] if i > 0 else 0.0
            return low + (LATENCY_BUCKETS[i] - low) * (rank - seen) / n
        seen += n
    return LATENCY_BUCKETS[-1]


@dataclass(slots=True)
class Totals:
    counters: dict[CounterKey, float] = field(default_factory=dict)
    latency: dict[tuple[str, ...], list[float]] = field(default_factory=dict)


@dataclass(slots=True)
class WorkerView:
    """What the supervisor knows of one worker slot when it is asked."""

    index: int
    pid: int | None
    serving: bool
    snapshot: dict[str, Any] | None = None
    problems: list[str] = field(default_factory=list)


class Aggregator(Collector):
    """The workers' last snapshots, summed; a `prometheus_client` collector of the `dynlan_` families."""

    def __init__(self) -> None:
        self.live: dict[int, dict[str, Any]] = {}
        """pid -> the last snapshot of a worker that runs."""
        self.indexes: dict[int, int] = {}
        """pid -> its slot."""
        self.retired = Totals()
        self.restarts = 0
        self.workers: list[WorkerView] = []
        self.supervisor_rss = 0
        self.history = History()

    def update(self, views: list[WorkerView], restarts: int, supervisor_rss: int) -> None:
        """The workers as they are now: snapshots of those that answered; an ended worker's counters retire."""
        current = {view.pid for view in views if view.pid is not None}
        for pid in [pid for pid in self.live if pid not in current]:
            snap = self.live.pop(pid)
            self.indexes.pop(pid, None)
            _add_into(self.retired.counters, counters_of(snap))
            _add_into(self.retired.latency, latency_of(snap))
        for view in views:
            if view.pid is not None and view.snapshot is not None:
                self.live[view.pid] = view.snapshot
                self.indexes[view.pid] = view.index
        self.workers = views
        self.restarts = restarts
        self.supervisor_rss = supervisor_rss

    def totals(self) -> Totals:
        out = Totals(dict(self.retired.counters), {k: list(v) for k, v in self.retired.latency.items()})
        for snap in self.live.values():
            _add_into(out.counters, counters_of(snap))
            _add_into(out.latency, latency_of(snap))
        return out

    def inflight(self) -> list[dict[str, Any]]:
        pages = [{**page, "pid": pid} for pid, snap in self.live.items() for page in snap.get("inflight", ())]
        return sorted(pages, key=lambda page: -page["elapsed"])

    def connections(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for snap in self.live.values():
            _add_into(out, snap.get("connections", {}))
        return out

    # -- Prometheus ------------------------------------------------------------------------------------------

    def collect(self) -> Iterator[Metric]:
        totals = self.totals()
        counters = totals.counters
        requests = CounterMetricFamily("dynlan_requests", "Requests answered, by site, route, runtime, protocol "
                                       "and status class.", labels=["site", "route", "runtime", "protocol", "status"])
        sent = CounterMetricFamily("dynlan_response_bytes", "Response bytes sent (head and body).",
                                   labels=["site", "protocol"])
        budget = CounterMetricFamily("dynlan_budget_overruns", "Pages ended by a budget, by kind.", labels=["kind"])
        host = CounterMetricFamily("dynlan_host_events", "Host events (page errors, page HTTP calls).",
                                   labels=["event"])
        cache = CounterMetricFamily("dynlan_cache_operations", "Page cache lookups and evictions.",
                                    labels=["result"])
        responses = CounterMetricFamily("dynlan_response_cache_operations", "Response cache lookups, stores, "
                                        "evictions and purges.", labels=["result"])
        pool = CounterMetricFamily("dynlan_pool_events", "Runtime process pool events (php-cgi, Python sandbox).",
                                   labels=["runtime", "event"])
        families = {"requests": requests, "bytes": sent, "budget": budget, "host": host, "cache": cache,
                    "responses": responses, "pool": pool}
        for kind in ("time", "memory", "instructions", "output"):
            counters.setdefault(("budget", (kind,)), 0)
        for name in _CACHE_COUNTERS:
            counters.setdefault(("cache", (name,)), 0)
        for (family, labels), value in sorted(counters.items()):
            families[family].add_metric(list(labels), value)
        yield from families.values()
        latency = HistogramMetricFamily("dynlan_request_duration_seconds", "Time from the request head to the "
                                        "response's end.", labels=["site", "runtime", "protocol"])
        bounds = [*(f"{b:g}" for b in LATENCY_BUCKETS), "+Inf"]
        for labels, counts in sorted(totals.latency.items()):
            cumulative, running = [], 0.0
            for bound, n in zip(bounds, counts[:-1], strict=True):
                running += n
                cumulative.append((bound, running))
            latency.add_metric(list(labels), cumulative, counts[-1])
        yield latency
        yield from self._gauges()

    def _gauges(self) -> Iterable[Metric]:
        restarts = CounterMetricFamily("dynlan_worker_restarts", "Workers the supervisor started again after one "
                                       "ended (crash, watchdog, kill).")
        restarts.add_metric([], self.restarts)
        yield restarts
        workers = GaugeMetricFamily("dynlan_workers", "Worker processes, by state.", labels=["state"])
        serving = sum(1 for view in self.workers if view.serving)
        workers.add_metric(["serving"], serving)
        workers.add_metric(["starting"], len(self.workers) - serving)
        yield workers
        connections = GaugeMetricFamily("dynlan_connections", "Open client connections, by protocol.",
                                        labels=["protocol"])
        conns = self.connections()
        for protocol in ("http/1.1", "h2", "h3"):
            conns.setdefault(protocol, 0)
        for protocol, n in sorted(conns.items()):
            connections.add_metric([protocol], n)
        yield connections
        inflight = GaugeMetricFamily("dynlan_pages_in_flight", "Pages running now, by site and runtime.",
                                     labels=["site", "runtime"])
        running: dict[tuple[str, str], int] = {}
        for page in self.inflight():
            key = (page["site"], page.get("runtime", "-"))
            running[key] = running.get(key, 0) + 1
        for (site, runtime), n in sorted(running.items()):
            inflight.add_metric([site, runtime], n)
        yield inflight
        memory = GaugeMetricFamily("dynlan_process_resident_memory_bytes", "Resident memory of the supervisor and "
                                   "of each worker.", labels=["process"])
        memory.add_metric(["supervisor"], self.supervisor_rss)
        for pid, snap in sorted(self.live.items()):
            memory.add_metric([f"worker-{self.indexes.get(pid, '?')}"], snap.get("rss", 0))
        yield memory
        pool = GaugeMetricFamily("dynlan_pool_processes", "Runtime pool processes (php-cgi, Python sandbox), busy "
                                 "or idle.", labels=["runtime", "state"])
        cache_size = GaugeMetricFamily("dynlan_cache_size", "Entries and bytes held by the page cache and the "
                                       "response cache.", labels=["cache", "unit"])
        sizes: dict[tuple[str, str], float] = {}
        pools: dict[tuple[str, str], float] = {}
        for snap in self.live.values():
            for name, stats in snap.get("runtimes", {}).items():
                if "pool.workers" in stats:
                    idle = stats.get("pool.idle", 0)
                    _add_into(pools, {(name, "idle"): idle, (name, "busy"): stats["pool.workers"] - idle})
            for cache_name in ("cache", "responses"):
                stats = snap.get(cache_name, {})
                for unit in ("entries", "bytes"):
                    if unit in stats:
                        _add_into(sizes, {(cache_name, unit): stats[unit]})
        runtime_stats: dict[tuple[str, str], float] = {}
        for snap in self.live.values():
            for name, stats in snap.get("runtimes", {}).items():
                _add_into(runtime_stats, {(name, key): value for key, value in stats.items()
                                          if isinstance(value, int | float) and not key.startswith("pool.")})
        statistic = GaugeMetricFamily("dynlan_runtime_statistic", "Each runtime's own statistics() (requests, "
                                      "errors, budgets, VMs...), summed over the workers.", labels=["runtime", "name"])
        for labels, value in sorted(runtime_stats.items()):
            statistic.add_metric(list(labels), value)
        yield statistic
        for labels, value in sorted(pools.items()):
            pool.add_metric(list(labels), value)
        for labels, value in sorted(sizes.items()):
            cache_size.add_metric(list(labels), value)
        yield pool
        yield cache_size


class History:
    """Samples of the last hour at one a second, and of the last day at one a minute (memory ring buffers)."""

    def __init__(self) -> None:
        self.seconds: deque[dict[str, Any]] = deque(maxlen=SECONDS_KEPT)
        self.minutes: deque[dict[str, Any]] = deque(maxlen=MINUTES_KEPT)
        self._last: Totals | None = None
        self._minute: list[dict[str, Any]] = []
        self._minute_latency: list[float] | None = None
        self._minute_start = 0

    def sample(self, totals: Totals, connections: dict[str, int], inflight: int, now: float | None = None) -> \
            dict[str, Any]:
        """One second's sample: the difference from the last totals (a counter that went back counts as 0)."""
        now = time.time() if now is None else now
        last = self._last or totals
        self._last = totals
        status: dict[str, float] = {}
        sites: dict[str, float] = {}
        runtimes: dict[str, float] = {}
        requests = 0.0
        for (family, labels), value in totals.counters.items():
            if family != "requests":
                continue
            delta = max(0.0, value - last.counters.get((family, labels), 0))
            if not delta:
                continue
            requests += delta
            site, _, runtime, _, klass = labels
            status[klass] = status.get(klass, 0) + delta
            sites[site] = sites.get(site, 0) + delta
            runtimes[runtime] = runtimes.get(runtime, 0) + delta
        merged = [0.0] * (len(LATENCY_BUCKETS) + 2)
        for key, counts in totals.latency.items():
            before = last.latency.get(key)
            for i, n in enumerate(counts):
                merged[i] += max(0.0, n - before[i]) if before is not None else n
        sample = {"t": int(now), "rps": requests, "status": status, "sites": sites, "runtimes": runtimes,
                  "p50": round(quantile(merged, 0.5) * 1000, 3), "p99": round(quantile(merged, 0.99) * 1000, 3),
                  "connections": sum(connections.values()), "inflight": inflight}
        self.seconds.append(sample)
        self._roll_minute(sample, merged)
        return sample

    def _roll_minute(self, sample: dict[str, Any], latency: list[float]) -> None:
        minute = sample["t"] // 60 * 60
        if self._minute and minute != self._minute_start:
            self.minutes.append(self._summarise())
            self._minute = []
            self._minute_latency = None
        if not self._minute:
            self._minute_start = minute
        self._minute.append(sample)
        if self._minute_latency is None:
            self._minute_latency = list(latency)
        else:
            self._minute_latency = [a + b for a, b in zip(self._minute_latency, latency, strict=True)]

    def _summarise(self) -> dict[str, Any]:
        samples = self._minute
        status: dict[str, float] = {}
        sites: dict[str, float] = {}
        runtimes: dict[str, float] = {}
        for s in samples:
            _add_into(status, s["status"])
            _add_into(sites, s["sites"])
            _add_into(runtimes, s["runtimes"])
        latency = self._minute_latency or [0.0]
        n = len(samples)
        return {"t": self._minute_start, "rps": round(sum(s["rps"] for s in samples) / n, 3), "status": status,
                "sites": sites, "runtimes": runtimes,
                "p50": round(quantile(latency, 0.5) * 1000, 3), "p99": round(quantile(latency, 0.99) * 1000, 3),
                "connections": max(s["connections"] for s in samples),
                "inflight": max(s["inflight"] for s in samples)}

    def current_minute(self) -> dict[str, Any] | None:
        """The minute being gathered, summarised so far (the dashboard's last point of the day chart)."""
        return self._summarise() if self._minute else None
