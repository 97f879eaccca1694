"""The grpc.aio server: SessionService and Envoy's Authorization (drained, observed), health
and reflection on one port, and its graceful stop."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from session_service.settings import Settings
from session_service.transport.drain import RpcDrain
from session_service.transport.ext_authz import (
    AUTHORIZATION_SERVICE,
    ExtAuthz,
    add_ext_authz_to_server,
)
from session_service.transport.ext_authz_fast import CheckFastPath
from session_service.transport.health import (
    LIVENESS_SERVICE,
    SERVICE_NAME,
    SERVING,
    DrainingHealthServicer,
)
from session_service.transport.listening import bind
from session_service.transport.metrics import ServiceMetrics
from session_service.transport.observability import RpcObserver
from session_service.transport.reflection_pool import reflection_pool
from session_service.transport.servicer import SessionServicer, add_to_server

# The server's lifecycle messages share one logger name, whichever module writes them.
logger = logging.getLogger("session_service.server")

# Calls that may wait in grpc-core to be taken up by the application (see _options).
MAX_PENDING_CALLS = 10_000


@dataclass(eq=False)
class GrpcServer:
    """A started grpc.aio server. ``port`` is the bound port (the real one when 0 was asked
    for)."""

    server: grpc.aio.Server
    health: DrainingHealthServicer
    rpcs: RpcDrain
    port: int

    async def stop(self, grace: float) -> None:
        """Stop in the order that loses no in-flight RPC, all within ``grace``: health
        NOT_SERVING (load balancers stop routing), new RPCs answered UNAVAILABLE while the
        accepted ones finish, then grpc's own stop."""
        # The drain begins: its monotonic time lets RPCs be ordered against it on the same
        # host (the shutdown test does).
        logger.info(
            "draining: NOT_SERVING, refusing new RPCs, %d in flight, grace %ss (monotonic %.6f)",
            self.rpcs.in_flight,
            grace,
            time.monotonic(),
        )
        began = time.monotonic()
        await self.health.enter_graceful_shutdown()
        await self.rpcs.drain(grace)
        await self.server.stop(max(0.0, grace - (time.monotonic() - began)))
        logger.info(
            "drained: %d RPCs served since start, %d refused while draining",
            self.rpcs.served,
            self.rpcs.refused,
        )


async def start_grpc_server(
    settings: Settings,
    servicer: SessionServicer,
    *,
    observer: RpcObserver,
    metrics: ServiceMetrics,
    traced: bool,
    ext_authz: ExtAuthz | None = None,
    interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
) -> GrpcServer:
    """Serve ``servicer`` (and ``ext_authz``, Envoy's Check) on the configured port, every
    method drained and observed (and GetSession's cached answers first, unless ``traced``:
    spans come from the wrappers), with health (readiness NOT_SERVING until the readiness
    loop says otherwise, liveness SERVING) and, when configured, reflection. Raises
    ``ListenError``."""
    rpcs = RpcDrain()
    server = grpc.aio.server(
        interceptors=list(interceptors) or None,
        options=_options(settings),
        maximum_concurrent_rpcs=settings.max_concurrent_rpcs,
    )

    def wrap(name: str, behaviour: Any, response_class: Any) -> Any:
        wrapped = rpcs.guard(observer.wrap(name, behaviour, response_class))
        if name == "GetSession" and not traced:
            record = metrics.rpc_recorder(name)
            return servicer.fast_path.first(record, rpcs, wrapped)
        return wrapped

    add_to_server(servicer, server, wrap=wrap)
    services = [SERVICE_NAME]
    if ext_authz is not None:
        authz_observer = observer.for_service(AUTHORIZATION_SERVICE)
        fast = CheckFastPath(servicer.fast_path, ext_authz.sessions.config)
        ext_authz.fast = fast

        def wrap_check(name: str, behaviour: Any, response_class: Any) -> Any:
            wrapped = rpcs.guard(authz_observer.wrap(name, behaviour, response_class))
            # Kept answers first, as GetSession's, unless traced.
            return wrapped if traced else fast.first(metrics.rpc_recorder(name), rpcs, wrapped)

        add_ext_authz_to_server(ext_authz, server, wrap=wrap_check)
        services.append(AUTHORIZATION_SERVICE)
    health = DrainingHealthServicer()
    await health.set_ready(False)
    await health.set(LIVENESS_SERVICE, SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    if settings.reflection:
        # Envoy's API lives in a descriptor pool of its own (session_proto.xds_pool): the
        # reflection service gets one that holds every file it describes.
        reflection.enable_server_reflection(
            (
                *services,
                health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                reflection.SERVICE_NAME,
            ),
            server,
            pool=reflection_pool(),
        )
    port = bind(server, settings)
    await server.start()
    return GrpcServer(server=server, health=health, rpcs=rpcs, port=port)


def _options(settings: Settings) -> list[tuple[str, int]]:
    options = [
        ("grpc.max_receive_message_length", settings.max_receive_message_bytes),
        # C-core defaults to SO_REUSEPORT, which lets a second process silently bind the
        # same port and steal traffic; fail to bind instead, unless this is one of the
        # --workers sharing the port on purpose (workers.py).
        ("grpc.so_reuseport", 1 if settings.workers > 1 else 0),
        # Calls the application has not yet taken up wait in grpc-core, which refuses them
        # beyond 1,000 (at random) to 3,000 waiting, and the caller sees CANCELLED, as if it
        # had cancelled. A burst that large is left to wait instead, within each caller's
        # deadline; --max-concurrent-rpcs is the cap that answers RESOURCE_EXHAUSTED.
        # (grpc-core's server.h names these arguments.)
        ("grpc.server.max_pending_requests", MAX_PENDING_CALLS),
        ("grpc.server.max_pending_requests_hard_limit", MAX_PENDING_CALLS),
    ]
    # GOAWAY after --max-connection-age-seconds (clients reconnect, and a connection-level
    # balancer spreads them over new replicas); in-flight RPCs get the grace period.
    if settings.max_connection_age_seconds is not None:
        options += [
            ("grpc.max_connection_age_ms", round(settings.max_connection_age_seconds * 1000)),
            ("grpc.max_connection_age_grace_ms", round(settings.grace_period_seconds * 1000)),
        ]
    return options
