"""Prometheus metrics of the revocation feed's follower (docs/revocation.md), read at
scrape time from ``SessionRecipe.revocation_feed``."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from session_service.domain.api import FEED_STATES, FeedStatus


class FeedCollector(Collector):
    def __init__(self, status: Callable[[], FeedStatus]) -> None:
        self._status = status

    def collect(self) -> Iterable[Metric]:
        status = self._status()
        state = GaugeMetricFamily(
            "session_service_revocation_feed_state",
            "1 for the revocation feed's state (all others 0): off, starting, following, "
            "lagging, down, overflow, unsupported.",
            labels=("state",),
        )
        for name in FEED_STATES:
            state.add_metric((name.value,), 1 if name is status.state else 0)
        yield state
        if status.lag_seconds is not None:
            yield GaugeMetricFamily(
                "session_service_revocation_feed_lag_seconds",
                "Seconds since the revocation feed last answered.",
                value=status.lag_seconds,
            )
        yield GaugeMetricFamily(
            "session_service_revocation_feed_check_core",
            "1 while GetSession verifies every token with the core (fail-safe while the feed "
            "lags, or more revoked sessions than --revocation-max-entries).",
            value=1 if status.check_core else 0,
        )
        yield GaugeMetricFamily(
            "session_service_revocation_entries",
            "Revoked sessions known from the feed and still inside their window.",
            value=status.entries,
        )
        yield CounterMetricFamily(
            "session_service_revocation_feed_received",
            "Revocations received from the feed (repeats included).",
            value=status.received,
        )
        yield CounterMetricFamily(
            "session_service_revocation_feed_reconnects",
            "Failed requests to the revocation feed, each followed by a reconnection.",
            value=status.reconnects,
        )
