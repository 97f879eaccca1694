"""The service's wiring: ``start_service`` builds and starts every part, ``RunningService``
stops them.

``start_service`` is the whole lifecycle in one call, used by the CLI and by tests alike:
it optionally starts the embedded core, starts the SessionRecipe, binds the port and
serves. ``RunningService.stop`` undoes it in the order that loses no in-flight RPC: the
gRPC server drains and stops within the grace period (``GrpcServer.stop``); then the
domain closes (HTTP client, key refresher) and the embedded core stops, and last the
metrics endpoint (so a final scrape still sees the drain) and the tracer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from session_common.tracing import TracingUnavailable, build_tracer_provider, get_tracer
from session_service.core_client.client import CoreClient
from session_service.domain.api import (
    ClaimValidatorSpec,
    Clock,
    DomainConfig,
    InvalidArgument,
    RevocationConfig,
    SessionRecipe,
)
from session_service.domain.http_sessions import HttpSessions
from session_service.domain.overrides import Override, OverrideError, load_override
from session_service.domain.session_claims import (
    ClaimRegistry,
    ClaimsModuleError,
    SessionClaim,
    load_claims,
)
from session_service.embedded_core import (
    EmbeddedCore,
    embedded_core_key,
    start_embedded_core,
    using_embedded_core,
)
from session_service.settings import Settings, SettingsError
from session_service.transport.auth import ApiKeyInterceptor, ApiKeysError, ApiKeyStore
from session_service.transport.ext_authz import ExtAuthz
from session_service.transport.feed_metrics import FeedCollector
from session_service.transport.grpc_server import GrpcServer, start_grpc_server
from session_service.transport.health import SERVICE_NAME
from session_service.transport.http_edge import HttpEdge
from session_service.transport.metrics import DomainSources, MetricsServer, ServiceMetrics
from session_service.transport.observability import CoreObserver, RpcObserver
from session_service.transport.readiness import NOT_READY_CAUSES, Readiness, track_readiness
from session_service.transport.servicer import SessionServicer

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Tracer

logger = logging.getLogger("session_service.server")

# How often the API key file is checked for changes (SIGHUP reloads it at once).
API_KEYS_CHECK_INTERVAL_SECONDS = 1.0

# What wraps each SessionService method with metrics and tracing (``RpcObserver``; the
# metrics-overhead benchmark passes one that wraps nothing, to measure what it costs).
RpcObserverFactory = Callable[["ServiceMetrics", "Tracer | None", str], RpcObserver]


@dataclass(eq=False)
class RunningService:
    """A started service. ``port`` is the bound port (the real one when 0 was asked for)."""

    host: str
    port: int
    settings: Settings
    servicer: SessionServicer
    _grpc: GrpcServer
    _recipe: SessionRecipe
    _readiness: asyncio.Task[None]
    _core: EmbeddedCore | None
    # Why the service is not ready (``cause`` None while it is).
    readiness: Readiness
    _stopped: asyncio.Event = field(default_factory=asyncio.Event)
    _stopping: asyncio.Lock = field(default_factory=asyncio.Lock)
    # Caller authentication (None when no --api-keys-file is configured).
    auth: ApiKeyInterceptor | None = None
    _key_watch: asyncio.Task[None] | None = None
    metrics: ServiceMetrics = field(default_factory=ServiceMetrics)
    # The bound /metrics port (None when --metrics-port is unset).
    metrics_port: int | None = None
    _metrics_server: MetricsServer | None = None
    # A tracer provider the service made from --tracing (flushed at stop).
    _own_tracer_provider: TracerProvider | None = None
    # The HTTP edge's bound port (None when --http-port is unset).
    http_port: int | None = None
    _http_edge: HttpEdge | None = None

    @property
    def address(self) -> str:
        """``host:port`` to dial."""
        return f"{self.host}:{self.port}"

    @property
    def core_url(self) -> str | None:
        """The embedded core's URL, or None when the service uses external cores."""
        return None if self._core is None else self._core.url

    async def reload_api_keys(self) -> bool:
        """Re-read the API key file now (SIGHUP); True if new keys took effect."""
        return self.auth is not None and await self.auth.store.reload_if_changed()

    async def stop(self, grace: float | None = None) -> None:
        """Shut down gracefully; ``grace`` defaults to the configured grace period.

        Safe to call more than once (a second SIGTERM while draining is a no-op).
        """
        async with self._stopping:
            if self._stopped.is_set():
                return
            grace = self.settings.grace_period_seconds if grace is None else grace
            for task in (self._readiness, self._key_watch):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            if self._http_edge is None:
                await self._grpc.stop(grace)
            else:
                await asyncio.gather(self._grpc.stop(grace), self._http_edge.stop())
            await self._recipe.close()
            if self._core is not None:
                await self._core.stop()
            if self._metrics_server is not None:
                await self._metrics_server.stop()
            if self._own_tracer_provider is not None:
                self._own_tracer_provider.shutdown()
            self._stopped.set()
            logger.info("session service stopped")

    async def wait_stopped(self) -> None:
        await self._stopped.wait()


async def start_service(
    settings: Settings,
    *,
    clock: Clock | None = None,
    tracer_provider: TracerProvider | None = None,
    rpc_observer: RpcObserverFactory = RpcObserver,
) -> RunningService:
    """Start serving ``settings``; with no core URL, start the embedded core first.

    ``clock`` is handed to the domain (tests pass the ManualClock they give the core, so both
    agree on expiry). ``tracer_provider`` replaces the one ``--tracing`` would make (tests pass
    one with an in-memory exporter). ``rpc_observer`` makes what wraps each RPC with metrics
    and tracing. Everything started so far is torn down again if a later step fails.
    """
    core: EmbeddedCore | None = None
    recipe: SessionRecipe | None = None
    try:
        api_keys = ApiKeyStore(settings.api_keys_file) if settings.api_keys_file else None
    except ApiKeysError as exc:
        raise SettingsError(f"--api-keys-file: {exc}") from None
    override = _load_override(settings.override_module)
    # Checked before anything starts (the embedded core's URL and key are not known yet:
    # any will do).
    if settings.embedded_core:
        using_embedded_core(settings, "http://127.0.0.1", embedded_core_key()).domain_config()
    else:
        settings.domain_config()
    revocations = settings.revocation_config(SettingsError)
    claims = _load_claims(settings.claims_module, settings.required_claim_validators)
    own_provider = None
    if tracer_provider is None:
        try:
            own_provider = tracer_provider = build_tracer_provider(
                settings.tracing, "session-service"
            )
        except TracingUnavailable as exc:
            raise SettingsError(f"--tracing {settings.tracing}: {exc}") from None
    tracer = get_tracer(tracer_provider) if tracer_provider is not None else None
    metrics = ServiceMetrics()
    try:
        core_settings = settings
        if settings.embedded_core:
            core_key = embedded_core_key()
            core = await start_embedded_core(settings, tracer_provider, core_key)
            metrics.add_registry(core.metrics.registry)
            core_settings = using_embedded_core(settings, core.url, core_key)
        domain_config = core_settings.domain_config()
        recipe = _recipe(
            domain_config,
            clock=clock,
            core_client=CoreClient(domain_config.core, observer=CoreObserver(metrics, tracer)),
            claims=claims,
            override=override,
            revocations=revocations,
        )
        await recipe.start()
        service = await _serve(
            settings,
            recipe,
            core,
            api_keys,
            metrics=metrics,
            observer=rpc_observer(metrics, tracer, SERVICE_NAME),
            traced=tracer is not None,
            clock=clock,
        )
    except BaseException:
        if recipe is not None:
            await recipe.close()
        if core is not None:
            await core.stop()
        if own_provider is not None:
            own_provider.shutdown()
        raise
    service._own_tracer_provider = own_provider
    return service


def _load_override(spec: str | None) -> Override | None:
    if spec is None:
        return None
    try:
        return load_override(spec)
    except OverrideError as exc:
        raise SettingsError(f"--override-module: {exc}") from None


def _load_claims(
    spec: str | None, required_validators: Sequence[ClaimValidatorSpec]
) -> tuple[SessionClaim, ...]:
    """The claims of the claims module; a server-wide validator that does not fit its claim
    (``has_value`` of a primitive-array claim, ...) is a configuration error too."""
    if spec is None:
        return ()
    try:
        claims = load_claims(spec)
    except ClaimsModuleError as exc:
        raise SettingsError(f"--claims-module: {exc}") from None
    try:
        ClaimRegistry(claims).bind(required_validators, "required_claim_validators")
    except InvalidArgument as exc:
        raise SettingsError(f"--required-claim-validators with --claims-module: {exc}") from None
    return claims


def _recipe(
    config: DomainConfig,
    *,
    clock: Clock | None,
    core_client: CoreClient,
    claims: Sequence[SessionClaim],
    override: Override | None,
    revocations: RevocationConfig,
) -> SessionRecipe:
    try:
        return SessionRecipe(
            config,
            clock=clock,
            core_client=core_client,
            claims=claims,
            override=override,
            revocations=revocations,
        )
    except OverrideError as exc:
        raise SettingsError(f"--override-module: {exc}") from None


async def _serve(
    settings: Settings,
    recipe: SessionRecipe,
    core: EmbeddedCore | None,
    api_keys: ApiKeyStore | None,
    *,
    metrics: ServiceMetrics,
    observer: RpcObserver,
    traced: bool,
    clock: Clock | None,
) -> RunningService:
    auth = ApiKeyInterceptor(api_keys) if api_keys is not None else None
    servicer = SessionServicer(recipe)
    now_ms = clock.now_ms if clock is not None else lambda: time.time_ns() // 1_000_000
    http_sessions = HttpSessions(recipe, settings.http_config(), now_ms)
    ext_authz = ExtAuthz(http_sessions)
    grpc_server = await start_grpc_server(
        settings,
        servicer,
        observer=observer,
        metrics=metrics,
        traced=traced,
        ext_authz=ext_authz,
        interceptors=[auth] if auth is not None else [],
    )
    metrics.add_sources(_domain_sources(recipe, servicer, ext_authz, auth, clock))
    readiness = Readiness(
        api_key_configured=settings.core_api_key is not None, feed=recipe.revocation_feed
    )
    metrics.add_readiness(lambda: readiness.cause, NOT_READY_CAUSES)
    metrics.registry.register(FeedCollector(recipe.revocation_feed))
    metrics_server = None
    http_edge = None
    try:
        if settings.metrics_port is not None:
            metrics_server = MetricsServer(metrics)
            await metrics_server.start(settings.metrics_host, settings.metrics_port)
        if settings.http_port is not None:
            http_edge = HttpEdge(
                http_sessions, recipe, settings.api_base_path, metrics.http_recorder
            )
            await http_edge.start(
                settings.http_host or settings.host,
                settings.http_port,
                reuse_port=settings.workers > 1,
                grace=settings.grace_period_seconds,
            )
    except OSError:
        if metrics_server is not None:
            await metrics_server.stop()
        await grpc_server.server.stop(None)
        raise
    readiness_task = asyncio.create_task(
        track_readiness(
            recipe, grpc_server.health, settings.health_check_interval_seconds, readiness
        ),
        name="session-service-readiness",
    )
    key_watch = None
    if api_keys is not None:
        key_watch = asyncio.create_task(
            api_keys.watch(API_KEYS_CHECK_INTERVAL_SECONDS), name="session-service-api-keys"
        )
    logger.info(
        "session service listening on %s:%d (%s, %s)",
        settings.host,
        grpc_server.port,
        "TLS" if settings.tls_cert_file else "plaintext",
        f"{api_keys.key_count} API key(s)" if api_keys is not None else "no caller auth",
    )
    return RunningService(
        host=settings.host,
        port=grpc_server.port,
        settings=settings,
        servicer=servicer,
        _grpc=grpc_server,
        _recipe=recipe,
        _readiness=readiness_task,
        readiness=readiness,
        _core=core,
        auth=auth,
        _key_watch=key_watch,
        metrics=metrics,
        metrics_port=metrics_server.port if metrics_server is not None else None,
        _metrics_server=metrics_server,
        http_port=http_edge.port if http_edge is not None else None,
        _http_edge=http_edge,
    )


def _domain_sources(
    recipe: SessionRecipe,
    servicer: SessionServicer,
    ext_authz: ExtAuthz,
    auth: ApiKeyInterceptor | None,
    clock: Clock | None,
) -> DomainSources:
    def auth_denials() -> dict[str, int]:
        assert auth is not None
        return {
            "unauthenticated": auth.unauthenticated,
            "permission_denied": auth.permission_denied,
        }

    return DomainSources(
        key_cache_stats=recipe.key_cache_stats,
        key_cache_health=recipe.key_cache_health,
        token_cache_stats=recipe.token_cache_stats,
        core_connections=recipe.core_connection_stats,
        internal_errors=lambda: servicer.internal_errors + ext_authz.internal_errors,
        auth_denials=auth_denials if auth is not None else None,
        now_ms=clock.now_ms if clock is not None else lambda: time.time_ns() // 1_000_000,
    )
