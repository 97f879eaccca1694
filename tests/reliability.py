"""Counters behind the reliability claims (attacks tried, faults injected, sessions checked
after crashes, RPCs during shutdown, and the outcomes that must stay at zero).

Tests add to ``STATS``; ``tests/conftest.py`` prints the totals at the end of the run, so
every run states the numbers it proved rather than a number written down once.
"""

from __future__ import annotations

from collections import Counter

STATS: Counter[str] = Counter()

# Printed in this order; anything else a test counts follows.
ORDER = (
    "attacks tried",
    "forgeries accepted",
    "property examples",
    "faults injected",
    "sessions checked after crashes",
    "sessions lost",
    "RPCs during shutdown",
    "RPCs failed that arrived before shutdown",
    "RPCs in flight when the drain began",
    "RPCs cut by grpc's own stop (grpc/grpc#41785)",
    "INTERNAL or UNKNOWN answers",
)


def summary() -> list[str]:
    names = [n for n in ORDER if n in STATS] + sorted(n for n in STATS if n not in ORDER)
    return [f"{name}: {STATS[name]}" for name in names]
