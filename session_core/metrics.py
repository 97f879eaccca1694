"""Prometheus metrics of the core, served as ``GET /metrics`` on its HTTP port.

Each ``RunningCore`` has its own registry (tests run several cores in one process; an
embedding service adds the core's registry to its own endpoint). The endpoint label is the
CDI route (``/recipe/session/verify``…) or ``other`` for unknown paths, so scanners cannot
create new series.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

# Sub-millisecond for the cached paths up to seconds for a slow database.
LATENCY_BUCKETS = (
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
)
_METHODS = frozenset({"GET", "POST", "PUT", "DELETE"})


class _KeyReloads(Collector):
    """Signing-key reloads caused by requests, read from the key manager at scrape time."""

    def __init__(self, reloads: Callable[[], int]) -> None:
        self._reloads = reloads

    def collect(self) -> Iterable[CounterMetricFamily]:
        yield CounterMetricFamily(
            "session_core_signing_key_reloads",
            "Signing-key reloads from the database triggered by an unknown or missing kid.",
            value=self._reloads(),
        )


class FeedCounts(Protocol):
    """What ``RevocationFeed`` counts (read at scrape time)."""

    @property
    def waiting(self) -> int: ...
    @property
    def served(self) -> int: ...
    @property
    def purged(self) -> int: ...


class _RevocationFeed(Collector):
    def __init__(self, feed: FeedCounts) -> None:
        self._feed = feed

    def collect(self) -> Iterable[CounterMetricFamily | GaugeMetricFamily]:
        yield GaugeMetricFamily(
            "session_core_revocation_feed_waiting",
            "Reads of the revocation feed waiting for news now (long-polls).",
            value=self._feed.waiting,
        )
        yield CounterMetricFamily(
            "session_core_revocation_feed_entries_served",
            "Revocation entries answered by the feed (a follower reading one twice counts twice).",
            value=self._feed.served,
        )
        yield CounterMetricFamily(
            "session_core_revocation_feed_purged",
            "Revocation entries deleted by this core after their window ended.",
            value=self._feed.purged,
        )


class CoreMetrics:
    """Requests by endpoint, method and HTTP status, with latency; the revocation feed's
    waiting reads and entries served and purged."""

    def __init__(
        self,
        known_endpoints: Iterable[str],
        key_reloads: Callable[[], int],
        feed: FeedCounts | None = None,
    ) -> None:
        self.registry = CollectorRegistry()
        self._known = frozenset(known_endpoints)
        self._requests = Counter(
            "session_core_http_requests",
            "HTTP requests answered by the core, by endpoint, method and status code.",
            ("endpoint", "method", "code"),
            registry=self.registry,
        )
        self._latency = Histogram(
            "session_core_http_request_duration_seconds",
            "Time to answer an HTTP request, by endpoint.",
            ("endpoint",),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_KeyReloads(key_reloads))
        if feed is not None:
            self.registry.register(_RevocationFeed(feed))

    def observe(self, endpoint: str | None, method: str, code: int, seconds: float) -> None:
        """Record one answered request; ``endpoint`` is the path below the base path."""
        label = endpoint if endpoint in self._known else "other"
        self._requests.labels(label, method if method in _METHODS else "OTHER", str(code)).inc()
        self._latency.labels(label).observe(seconds)
