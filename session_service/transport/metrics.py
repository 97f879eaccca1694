"""Prometheus metrics of the service, served on the ops HTTP port (``--metrics-port``).

Two kinds of numbers:

* Recorded per event: RPCs (count and latency by method, gRPC code and session status),
  the HTTP edge's requests (the same by route, HTTP status and session status), RPCs in
  flight, core HTTP requests (count by endpoint and outcome, latency). RPCs are on
  the hot path, so they are kept in plain per-series counters (a dict lookup, a bisect and
  three additions, no lock: everything runs on the one event loop, the scrape included) and
  turned into Prometheus families only when scraped; prometheus-client's own Histogram
  costs several times more per observation (bench/metrics_overhead.py).
* Read at scrape time from the objects that already count them (nothing is counted twice):
  the signing-key cache (``SessionRecipe.key_cache_stats/health``), the verified-token
  cache, the core connections (in use, calls waiting for one), unexpected errors
  (``servicer.internal_errors``), caller-auth denials, and the embedded core's own registry
  when there is one.

Every service has its own registry, so several can run in one process (the tests do).
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from session_service.domain.api import (
    CoreConnectionStats,
    KeyCacheHealth,
    KeyCacheStats,
    TokenCacheStats,
)
from session_service.settings import ListenError

logger = logging.getLogger("session_service.metrics")

# A cached GetSession is answered in well under a millisecond; calls that reach the core
# take milliseconds; the top buckets catch deadlines and timeouts.
RPC_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
CORE_BUCKETS = RPC_BUCKETS[2:]

RecordRpc = Callable[[str, str, float], None]


@dataclass(frozen=True, slots=True)
class DomainSources:
    """Where the scrape-time numbers come from (callables, so nothing is copied)."""

    key_cache_stats: Callable[[], KeyCacheStats]
    key_cache_health: Callable[[], KeyCacheHealth]
    token_cache_stats: Callable[[], TokenCacheStats | None]
    core_connections: Callable[[], CoreConnectionStats]
    internal_errors: Callable[[], int]
    auth_denials: Callable[[], dict[str, int]] | None
    now_ms: Callable[[], int]


class _DomainCollector(Collector):
    def __init__(self, sources: DomainSources) -> None:
        self._sources = sources

    def collect(self) -> Iterable[Metric]:
        src = self._sources
        stats = src.key_cache_stats()
        fetches = CounterMetricFamily(
            "session_service_key_cache_fetches",
            "Signing-key set (JWKS) fetches from the core, by outcome.",
            labels=("outcome",),
        )
        fetches.add_metric(("ok",), stats.fetches_ok)
        fetches.add_metric(("failed",), stats.fetches_failed)
        yield fetches
        yield CounterMetricFamily(
            "session_service_key_cache_unknown_kid_misses",
            "Tokens whose kid was not in the cached key set.",
            value=stats.unknown_kid_misses,
        )
        yield CounterMetricFamily(
            "session_service_key_cache_unknown_kid_refetches",
            "Key-set refetches started by an unknown kid (outside the cooldown).",
            value=stats.unknown_kid_refetches,
        )
        yield CounterMetricFamily(
            "session_service_key_cache_negative_hits",
            "Unknown kids answered from the negative cache without a refetch.",
            value=stats.negative_cache_hits,
        )
        health = src.key_cache_health()
        yield GaugeMetricFamily(
            "session_service_key_cache_usable",
            "1 while the cached signing keys may be used (fresh, or within max-stale).",
            value=1 if health.has_keys else 0,
        )
        yield GaugeMetricFamily(
            "session_service_key_cache_stale",
            "1 while the key set is past its freshness window (refetches are failing).",
            value=1 if health.is_stale else 0,
        )
        if health.last_success_ms is not None:
            yield GaugeMetricFamily(
                "session_service_key_cache_age_seconds",
                "Seconds since the signing keys were last fetched successfully.",
                value=max(0, src.now_ms() - health.last_success_ms) / 1000,
            )
        tokens = src.token_cache_stats()
        if tokens is not None:
            lookups = CounterMetricFamily(
                "session_service_token_cache_lookups",
                "Verified-token cache lookups by result: hit (decoded entry), warm_hit "
                "(verified entry, decoded again), rejected_hit, miss (fully verified).",
                labels=("result",),
            )
            lookups.add_metric(("hit",), tokens.hits)
            lookups.add_metric(("warm_hit",), tokens.warm_hits)
            lookups.add_metric(("rejected_hit",), tokens.rejected_hits)
            lookups.add_metric(("miss",), tokens.misses)
            yield lookups
            entries = GaugeMetricFamily(
                "session_service_token_cache_entries",
                "Entries held by the verified-token cache, by kind.",
                labels=("kind",),
            )
            entries.add_metric(("verified",), tokens.verified)
            entries.add_metric(("decoded",), tokens.decoded)
            entries.add_metric(("rejected",), tokens.rejected)
            yield entries
        connections = src.core_connections()
        yield GaugeMetricFamily(
            "session_service_core_connections_limit",
            "Most requests for callers on the wire to the core at once (--core-max-connections).",
            value=connections.limit,
        )
        yield GaugeMetricFamily(
            "session_service_core_connections_in_use",
            "Requests for callers on the wire to the core now.",
            value=connections.in_use,
        )
        yield GaugeMetricFamily(
            "session_service_core_connections_waiting",
            "Calls waiting for a free connection to the core (all of them in use).",
            value=connections.waiting,
        )
        yield CounterMetricFamily(
            "session_service_internal_errors",
            "RPCs answered INTERNAL because of an unexpected exception (a bug; alert on it).",
            value=src.internal_errors(),
        )
        if src.auth_denials is not None:
            denials = CounterMetricFamily(
                "session_service_auth_denials",
                "RPCs refused by caller authentication, by reason.",
                labels=("reason",),
            )
            for reason, count in src.auth_denials().items():
                denials.add_metric((reason,), count)
            yield denials


class _ReadinessCollector(Collector):
    def __init__(self, cause: Callable[[], str | None], causes: tuple[str, ...]) -> None:
        self._cause = cause
        self._causes = causes

    def collect(self) -> Iterable[Metric]:
        cause = self._cause()
        yield GaugeMetricFamily(
            "session_service_ready",
            "1 while the service reports SERVING (a core answers and signing keys are held).",
            value=1 if cause is None else 0,
        )
        not_ready = GaugeMetricFamily(
            "session_service_not_ready",
            "1 for the reason the service is not ready (all 0 while it is): starting, "
            "core_unavailable, core_api_key_rejected, core_incompatible, no_signing_keys, "
            "probe_failed.",
            labels=("cause",),
        )
        for name in self._causes:
            not_ready.add_metric((name,), 1 if name == cause else 0)
        yield not_ready


class _RpcSeries:
    """One (method, code, status): count, sum and per-bucket (not cumulative) counts."""

    __slots__ = ("buckets", "count", "sum")

    def __init__(self) -> None:
        self.buckets = [0] * (len(RPC_BUCKETS) + 1)  # the last one is +Inf
        self.count = 0
        self.sum = 0.0


class _RpcCollector(Collector):
    """A counter and a latency histogram of answers by (``first``, code, status): RPCs by
    method, the HTTP edge's requests by route."""

    _LE = (*(repr(b) for b in RPC_BUCKETS), "+Inf")

    def __init__(self, name: str, first: str, what: str, answered: str) -> None:
        self.series: dict[tuple[str, str, str], _RpcSeries] = {}
        self._name, self._labels = name, (first, "code", "status")
        self._what, self._answered = what, answered

    def collect(self) -> Iterable[Metric]:
        rpcs = CounterMetricFamily(self._name, self._answered, labels=self._labels)
        seconds = HistogramMetricFamily(
            self._name.removesuffix("s") + "_duration_seconds",
            f"Time to answer {self._what}, by {self._labels[0]}, code and session status.",
            labels=self._labels,
        )
        for labels, series in sorted(self.series.items()):
            rpcs.add_metric(labels, series.count)
            cumulative, total = [], 0
            for le, count in zip(self._LE, series.buckets, strict=True):
                total += count
                cumulative.append((le, float(total)))
            seconds.add_metric(labels, cumulative, sum_value=series.sum)
        yield rpcs
        yield seconds


class ServiceMetrics:
    """The service's registry and the metrics recorded on the request paths."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        self.in_flight = 0
        self._rpcs = _RpcCollector(
            "session_service_rpcs",
            "method",
            "an RPC",
            "RPCs answered, by method, gRPC code and session status ('' when the RPC failed; "
            "Check: the HTTP status of its answer).",
        )
        self.registry.register(self._rpcs)
        self._http = _RpcCollector(
            "session_service_http_requests",
            "route",
            "an HTTP edge request",
            "HTTP edge requests answered, by route (verify, refresh, signout, jwks, openid), "
            "HTTP status code and session status ('' when the answer is no session outcome).",
        )
        self.registry.register(self._http)
        Gauge(
            "session_service_rpcs_in_flight",
            "RPCs being handled right now.",
            registry=self.registry,
        ).set_function(lambda: self.in_flight)
        self._core_requests = Counter(
            "session_service_core_requests",
            "HTTP requests to the session core, by endpoint and outcome (HTTP status code, "
            "timeout, unreachable, error, saturated or cancelled).",
            ("endpoint", "outcome"),
            registry=self.registry,
        )
        self._core_seconds = Histogram(
            "session_service_core_request_duration_seconds",
            "Time of an HTTP request to the session core, by endpoint (requests sent only).",
            ("endpoint",),
            buckets=CORE_BUCKETS,
            registry=self.registry,
        )

    def add_sources(self, sources: DomainSources) -> None:
        self.registry.register(_DomainCollector(sources))

    def add_readiness(self, cause: Callable[[], str | None], causes: tuple[str, ...]) -> None:
        """Readiness gauges: ``cause()`` is None when ready, else one of ``causes``."""
        self.registry.register(_ReadinessCollector(cause, causes))

    def add_registry(self, registry: CollectorRegistry) -> None:
        """Serve another registry's metrics too (the embedded core's)."""
        self.registry.register(registry)

    def rpc_recorder(self, method: str) -> RecordRpc:
        """``record(code, status, seconds)`` for one method; each (code, status) gets its
        series on first use (shared by every recorder of the method)."""
        return self._recorder(self._rpcs, method)

    def http_recorder(self, route: str) -> RecordRpc:
        """``record(http_status, session_status, seconds)`` for one route of the HTTP edge."""
        return self._recorder(self._http, route)

    @staticmethod
    def _recorder(collector: _RpcCollector, method: str) -> RecordRpc:
        mine: dict[tuple[str, str], _RpcSeries] = {}
        everyone = collector.series
        bounds = RPC_BUCKETS
        find = bisect.bisect_left  # first bound >= seconds: Prometheus buckets are "le"

        def record(code: str, status: str, seconds: float) -> None:
            series = mine.get((code, status))
            if series is None:
                key = (method, code, status)
                series = mine[(code, status)] = everyone.setdefault(key, _RpcSeries())
            series.count += 1
            series.sum += seconds
            series.buckets[find(bounds, seconds)] += 1

        return record

    def core_request(self, endpoint: str, outcome: str, seconds: float) -> None:
        self._core_requests.labels(endpoint, outcome).inc()
        self._core_seconds.labels(endpoint).observe(seconds)

    def core_request_not_sent(self, endpoint: str, outcome: str) -> None:
        self._core_requests.labels(endpoint, outcome).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsServer:
    """``GET /metrics`` on its own HTTP port, away from the gRPC port (Prometheus scrapes
    HTTP/1.1; the gRPC port may require TLS client certificates or API keys)."""

    def __init__(self, metrics: ServiceMetrics) -> None:
        self._metrics = metrics
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def _serve(self, request: web.Request) -> web.Response:
        return web.Response(
            body=self._metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    async def start(self, host: str, port: int) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self._serve)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        try:
            site = web.TCPSite(runner, host, port)
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise ListenError(f"cannot serve metrics on {host}:{port}: {exc.strerror}") from None
        self._runner = runner
        self.port = int(runner.addresses[0][1])
        logger.info("metrics on http://%s:%d/metrics", host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
