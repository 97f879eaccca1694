"""Time as epoch milliseconds, behind a protocol so tests can control it."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Epoch milliseconds: the core stores and compares them, the service checks token
    expiry and cache freshness against them."""

    def now_ms(self) -> int: ...


class SystemClock:
    """Wall-clock time."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000


class ManualClock:
    """A clock that only moves when told to: tests use it to reach expiry and rotation
    points exactly, instead of sleeping (one instance can drive a core and a service)."""

    def __init__(self, start_ms: int | None = None) -> None:
        self._now = SystemClock().now_ms() if start_ms is None else start_ms

    def now_ms(self) -> int:
        return self._now

    def advance(self, ms: int) -> None:
        if ms < 0:
            raise ValueError("a ManualClock only moves forward")
        self._now += ms

    def set(self, now_ms: int) -> None:
        if now_ms < self._now:
            raise ValueError("a ManualClock only moves forward")
        self._now = now_ms
