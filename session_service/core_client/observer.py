"""What the core client tells an observer about each HTTP request (the service uses it for
metrics, tracing and request ids without the client knowing about any of them)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol


class CoreCall(Protocol):
    """One HTTP request to a core, as seen by an observer."""

    @property
    def headers(self) -> Mapping[str, str]:
        """Extra headers for the request (request id, trace context)."""
        ...

    def finish(self, outcome: str) -> None:
        """``outcome``: the HTTP status code (``"200"``), or ``timeout``, ``unreachable``,
        ``error`` (another transport failure), ``saturated`` (the call had waited for a
        connection and the rest of its time ran out) or ``cancelled`` (the deadline passed
        or the caller went away while waiting)."""
        ...


class CoreCallObserver(Protocol):
    def start(self, method: str, endpoint: str) -> CoreCall:
        """Called as a request to ``endpoint`` (a fixed CDI path) is about to be sent."""
        ...

    def not_sent(self, method: str, endpoint: str, outcome: str) -> None:
        """A request to ``endpoint`` was never sent: ``saturated`` (no connection came
        free within the call's time)."""
        ...
