"""``grpc.health.v1.Health``: readiness for the whole server and SessionService, liveness
apart, and Watch streams that end once they have reported a shutdown."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from session_proto.session.v1 import session_service_pb2 as pb
from session_service.transport.ext_authz import AUTHORIZATION_SERVICE

SERVICE_NAME: str = pb.DESCRIPTOR.services_by_name["SessionService"].full_name
# Readiness is reported for the whole server ("") and for each service by name (Envoy's
# Authorization too, which a gRPC health check of Envoy's cluster may name); all move
# together because they share the core.
HEALTH_SERVICES = ("", SERVICE_NAME, AUTHORIZATION_SERVICE)
# SERVING for as long as the process answers RPCs, whatever the core does: for liveness
# probes, which must not restart every replica because the core is down.
LIVENESS_SERVICE = "liveness"
SERVING: int = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING: int = health_pb2.HealthCheckResponse.NOT_SERVING
_SERVICE_UNKNOWN: int = health_pb2.HealthCheckResponse.SERVICE_UNKNOWN


class DrainingHealthServicer(health_pb2_grpc.HealthServicer):  # type: ignore[misc]
    """``grpc.health.v1.Health`` whose Watch streams end once they have reported a shutdown.

    grpcio-health-checking's servicer keeps every Watch open until the grace period runs out
    and the server cancels it, so one idle watcher (a load balancer, a sidecar) made every
    shutdown last the whole grace. Here a Watch sends NOT_SERVING and then ends with OK; a
    watcher that reconnects is refused by the stopping server.
    """

    def __init__(self) -> None:
        self._status: dict[str, int] = {}
        self._changed = asyncio.Condition()
        self._shutting_down = False

    async def set(self, service: str, status: int) -> None:
        """Report ``status`` for ``service``; ignored once shutdown began (NOT_SERVING is final)."""
        async with self._changed:
            if not self._shutting_down:
                self._status[service] = status
                self._changed.notify_all()

    async def set_ready(self, ready: bool) -> None:
        """Readiness (``HEALTH_SERVICES``) SERVING or NOT_SERVING."""
        for name in HEALTH_SERVICES:
            await self.set(name, SERVING if ready else NOT_SERVING)

    async def enter_graceful_shutdown(self) -> None:
        async with self._changed:
            self._shutting_down = True
            self._status = dict.fromkeys(self._status, NOT_SERVING)
            self._changed.notify_all()

    def _current(self, service: str) -> int:
        return self._status.get(service, _SERVICE_UNKNOWN)

    async def Check(
        self,
        request: health_pb2.HealthCheckRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> health_pb2.HealthCheckResponse:
        status = self._status.get(request.service)
        if status is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, "unknown service")
        return health_pb2.HealthCheckResponse(status=status)

    async def Watch(
        self,
        request: health_pb2.HealthCheckRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> None:
        sent: int | None = None
        while True:
            # Writes happen outside the lock: a watcher that does not read must not block set().
            async with self._changed:
                while self._current(request.service) == sent and not self._shutting_down:
                    await self._changed.wait()
                status, final = self._current(request.service), self._shutting_down
            if status != sent:
                await context.write(health_pb2.HealthCheckResponse(status=status))
                sent = status
            if final:
                return
