"""Graceful shutdown of SessionService RPCs: new calls refused, accepted ones finished."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import grpc


class RpcDrain:
    """Counts SessionService RPCs and, once a shutdown began, refuses new ones.

    grpc's own stop cancels the calls that reached the server but not yet the application,
    and their callers see CANCELLED instead of UNAVAILABLE (grpc/grpc#41785). So the drain
    happens here first: every new call is answered UNAVAILABLE while the accepted ones
    finish, and the server is stopped only then, which leaves that grpc behaviour to calls
    arriving in the very instant of the stop.

    It wraps each SessionService method once, at registration (outermost, around the
    metrics), rather than being an interceptor: an interceptor runs on every call of every
    service and its replacement handlers cost GetSession measurably. With API keys
    configured, the key check (an interceptor) comes first, so a call without a valid key
    is refused UNAUTHENTICATED even while draining.
    """

    def __init__(self) -> None:
        self.served = 0  # handed to the servicer
        self.refused = 0  # answered UNAVAILABLE because the drain had begun
        self.in_flight = 0
        self.draining = False
        self._idle = asyncio.Event()

    def guard(self, behaviour: Any) -> Any:
        """``behaviour`` counted, and refused once the drain has begun."""

        async def guarded(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            if self.draining:
                self.refused += 1
                await _refuse(request, context)
            self.served += 1
            self.in_flight += 1
            try:
                return await behaviour(request, context)
            finally:
                self.in_flight -= 1
                if self.draining and not self.in_flight:
                    self._idle.set()

        return guarded

    async def drain(self, grace: float) -> None:
        """Refuse new RPCs from now on; return once none is running, or after ``grace``."""
        self.draining = True
        if self.in_flight:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(grace):
                    await self._idle.wait()


async def _refuse(_request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> None:
    await context.abort(
        grpc.StatusCode.UNAVAILABLE, "the service is shutting down; retry on another instance"
    )
