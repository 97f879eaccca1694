"""The grpc.aio server: SessionService, health, reflection, readiness and graceful shutdown.

``start_service`` is the whole lifecycle in one call, used by the CLI and by tests alike:
it optionally starts the embedded core, starts the SessionManager, binds the port and
serves. ``RunningService.stop`` undoes it in the order that loses no in-flight RPC:
health NOT_SERVING (load balancers stop routing), answer new RPCs UNAVAILABLE while the
accepted ones finish, then stop the gRPC server, all within the grace
period; then close the domain (HTTP client, key refresher) and the embedded core, and
last the metrics endpoint (so a final scrape still sees the drain) and the tracer.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import logging
import secrets
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from session_common.tracing import TracingUnavailable, build_tracer_provider, get_tracer
from session_core.app import RunningCore, start_core
from session_core.config import CoreConfig
from session_core.storage.base import StorageError, UnsupportedDatabaseURL
from session_proto.session.v1 import session_service_pb2 as pb
from session_service.auth import (
    ApiKeyInterceptor,
    ApiKeysError,
    ApiKeyStore,
    server_credentials,
)
from session_service.converters import RenderedResponse
from session_service.domain.api import (
    ClaimValidatorSpec,
    Clock,
    CoreApiKeyRejected,
    CoreIncompatible,
    CoreUnavailable,
    InvalidArgument,
    SessionManager,
)
from session_service.domain.core_client import CoreClient
from session_service.domain.overrides import (
    Override,
    OverrideError,
    apply_override,
    load_override,
)
from session_service.domain.session_claims import (
    ClaimRegistry,
    ClaimsModuleError,
    SessionClaim,
    load_claims,
)
from session_service.metrics import DomainSources, MetricsServer, RecordRpc, ServiceMetrics
from session_service.observability import STATUS_LABELS, CoreObserver, RpcObserver
from session_service.servicer import SessionServicer, add_to_server
from session_service.settings import ListenError, Settings, SettingsError

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Tracer

logger = logging.getLogger("session_service.server")

SERVICE_NAME: str = pb.DESCRIPTOR.services_by_name["SessionService"].full_name
# Readiness is reported for the whole server ("") and for the service by name; both move
# together because the service is all this server does.
HEALTH_SERVICES = ("", SERVICE_NAME)
# SERVING for as long as the process answers RPCs, whatever the core does: for liveness
# probes, which must not restart every replica because the core is down.
LIVENESS_SERVICE = "liveness"
_SERVING = health_pb2.HealthCheckResponse.SERVING
_NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
_SERVICE_UNKNOWN: int = health_pb2.HealthCheckResponse.SERVICE_UNKNOWN
# Calls that may wait in grpc-core to be taken up by the application (see _serve).
MAX_PENDING_CALLS = 10_000
# How often the API key file is checked for changes (SIGHUP reloads it at once).
API_KEYS_CHECK_INTERVAL_SECONDS = 1.0
# Why the service may not be ready: the ``cause`` label of session_service_not_ready.
NOT_READY_CAUSES = (
    "starting",
    "core_unavailable",
    "core_api_key_rejected",
    "core_incompatible",
    "no_signing_keys",
    "probe_failed",
)
# While the service stays not ready for one cause, the WARNING saying why is repeated this
# often (each change of cause is logged at once).
NOT_READY_REPEAT_SECONDS = 30.0


class _RpcDrain:
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


def _cached_first(
    cached: Callable[[Any], RenderedResponse | None],
    record: RecordRpc,
    rpcs: _RpcDrain,
    wrapped: Any,
) -> Any:
    """GetSession whose first step answers a repeat of a verified token in one go: the
    servicer's ``cached_get_session`` (no await), counted by the drain and recorded in the
    metrics like any other call; everything else goes through the usual wrappers.

    Why: each wrapper layer (drain guard, metrics, error mapping) and the request-id holder
    are a few Python frames per call; on a cache hit they are most of GetSession's cost
    over a no-op, and in a busy server with cold CPU caches they cost several times what
    they cost in a loop (measured: 3-6% of the server's CPU per call). Nothing of theirs is
    needed on a hit: it does not log, call the core or stay in flight across an await. A
    lookup that raises (a bug) is not answered from here: the wrapped path answers with the
    full algorithm, whose failures the error mapping reports. Not used with tracing, whose
    spans come from the wrappers (GetSession's full algorithm serves cached tokens too).
    """
    clock = time.perf_counter
    ok = STATUS_LABELS[pb.SESSION_STATUS_OK]

    async def get_session(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        if not rpcs.draining:
            started = clock()
            try:
                answer = cached(request)
            except Exception:
                answer = None
            if answer is not None:
                rpcs.served += 1
                record("OK", ok, clock() - started)
                return answer
        return await wrapped(request, context)

    return get_session


async def _refuse(_request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> None:
    await context.abort(
        grpc.StatusCode.UNAVAILABLE, "the service is shutting down; retry on another instance"
    )


class _DrainingHealthServicer(health_pb2_grpc.HealthServicer):  # type: ignore[misc]
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

    async def enter_graceful_shutdown(self) -> None:
        async with self._changed:
            self._shutting_down = True
            self._status = dict.fromkeys(self._status, _NOT_SERVING)
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


@dataclass(eq=False)
class RunningService:
    """A started service. ``port`` is the bound port (the real one when 0 was asked for)."""

    host: str
    port: int
    settings: Settings
    servicer: SessionServicer
    _server: grpc.aio.Server
    _manager: SessionManager
    _health: _DrainingHealthServicer
    _readiness: asyncio.Task[None]
    _core: RunningCore | None
    _rpcs: _RpcDrain
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
            # The drain begins: its monotonic time lets RPCs be ordered against it on the
            # same host (the shutdown test does).
            logger.info(
                "draining: NOT_SERVING, refusing new RPCs, %d in flight, grace %ss "
                "(monotonic %.6f)",
                self._rpcs.in_flight,
                grace,
                time.monotonic(),
            )
            began = time.monotonic()
            await self._health.enter_graceful_shutdown()
            await self._rpcs.drain(grace)
            await self._server.stop(max(0.0, grace - (time.monotonic() - began)))
            logger.info(
                "drained: %d RPCs served since start, %d refused while draining",
                self._rpcs.served,
                self._rpcs.refused,
            )
            await self._manager.close()
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
) -> RunningService:
    """Start serving ``settings``; with no core URL, start the embedded core first.

    ``clock`` is handed to the domain (tests pass the ManualClock they give the core, so both
    agree on expiry). ``tracer_provider`` replaces the one ``--tracing`` would make (tests pass one
    with an in-memory exporter). Everything started so far is torn down again if a later
    step fails.
    """
    core: RunningCore | None = None
    manager: SessionManager | None = None
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
            core = await _start_embedded_core(settings, tracer_provider, core_key)
            metrics.add_registry(core.metrics.registry)
            core_settings = using_embedded_core(settings, core.url, core_key)
        domain_config = core_settings.domain_config()
        manager = SessionManager(
            domain_config,
            clock=clock,
            core_client=CoreClient(domain_config.core, observer=CoreObserver(metrics, tracer)),
            claims=claims,
        )
        if override is not None:
            _apply_override(manager, override)
        await manager.start()
        service = await _serve(
            settings, manager, core, api_keys, metrics=metrics, tracer=tracer, clock=clock
        )
    except BaseException:
        if manager is not None:
            await manager.close()
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


def _apply_override(manager: SessionManager, override: Override) -> None:
    try:
        apply_override(manager, override)
    except OverrideError as exc:
        raise SettingsError(f"--override-module: {exc}") from None


def embedded_core_key() -> str:
    """A new API key for the embedded core, made at each start. It stays in memory: the
    service's own (forked) processes inherit it; it is never logged, written to disk, or put
    in argv or the environment (both readable in /proc), so nothing else on the host can
    call the core's session API."""
    return secrets.token_hex(32)


def using_embedded_core(settings: Settings, core_url: str, core_key: str) -> Settings:
    """``settings`` of a service that calls the embedded core at ``core_url``."""
    return dataclasses.replace(settings, core_url=core_url, core_api_key=core_key, core_database="")


async def _start_embedded_core(
    settings: Settings, tracer_provider: TracerProvider | None, api_key: str
) -> RunningCore:
    """The embedded core on a loopback port, accepting only ``api_key`` (open paths such as
    /hello, the public JWKS and /metrics hold no secret and change nothing). A database it
    cannot open is a ``SettingsError`` naming the flag that chose it (``--core-database`` or
    ``--data-dir``)."""
    if settings.core_database:
        database_url, where, flag = (
            settings.core_database,
            "the --core-database database",
            "--core-database",
        )
    else:
        data_dir = settings.data_dir.expanduser().resolve()
        flag = f"--data-dir {data_dir}"
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SettingsError(f"{flag}: cannot create it: {exc.strerror}") from None
        database_url, where = f"sqlite:///{data_dir / 'core.db'}", str(data_dir)
    try:
        core = await start_core(
            CoreConfig(host="127.0.0.1", port=0, database=database_url, api_keys=(api_key,)),
            tracer_provider=tracer_provider,
        )
    except (StorageError, UnsupportedDatabaseURL) as exc:
        raise SettingsError(f"{flag}: {exc}") from None
    logger.info("embedded session core listening on %s (data in %s)", core.url, where)
    return core


async def _serve(
    settings: Settings,
    manager: SessionManager,
    core: RunningCore | None,
    api_keys: ApiKeyStore | None,
    *,
    metrics: ServiceMetrics,
    tracer: Tracer | None,
    clock: Clock | None,
) -> RunningService:
    auth = ApiKeyInterceptor(api_keys) if api_keys is not None else None
    rpcs = _RpcDrain()
    server = grpc.aio.server(
        interceptors=[auth] if auth is not None else None,
        options=[
            ("grpc.max_receive_message_length", settings.max_receive_message_bytes),
            # C-core defaults to SO_REUSEPORT, which lets a second process silently bind
            # the same port and steal traffic; fail to bind instead, unless this is one of
            # the --workers sharing the port on purpose (workers.py).
            ("grpc.so_reuseport", 1 if settings.workers > 1 else 0),
            # Calls the application has not yet taken up wait in grpc-core, which refuses
            # them beyond 1,000 (at random) to 3,000 waiting, and the caller sees CANCELLED,
            # as if it had cancelled. A burst that large is left to wait instead, within
            # each caller's deadline; --max-concurrent-rpcs is the cap that answers
            # RESOURCE_EXHAUSTED. (grpc-core's server.h names these arguments.)
            ("grpc.server.max_pending_requests", MAX_PENDING_CALLS),
            ("grpc.server.max_pending_requests_hard_limit", MAX_PENDING_CALLS),
            *_connection_age_options(settings),
        ],
        maximum_concurrent_rpcs=settings.max_concurrent_rpcs,
    )
    servicer = SessionServicer(manager)
    observer = RpcObserver(metrics, tracer, SERVICE_NAME)

    def wrap(name: str, behaviour: Any, response_class: Any) -> Any:
        wrapped = rpcs.guard(observer.wrap(name, behaviour, response_class))
        if name == "GetSession" and tracer is None:
            record = metrics.rpc_recorder(name)
            return _cached_first(servicer.cached_get_session, record, rpcs, wrapped)
        return wrapped

    add_to_server(servicer, server, wrap=wrap)
    metrics.add_sources(_domain_sources(manager, servicer, auth, clock))
    readiness = Readiness(api_key_configured=settings.core_api_key is not None)
    metrics.add_readiness(lambda: readiness.cause, NOT_READY_CAUSES)
    health_servicer = _DrainingHealthServicer()
    # Nothing is ready until the readiness loop has seen keys and a core.
    for name in HEALTH_SERVICES:
        await health_servicer.set(name, _NOT_SERVING)
    await health_servicer.set(LIVENESS_SERVICE, _SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    if settings.reflection:
        reflection.enable_server_reflection(
            (
                SERVICE_NAME,
                health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                reflection.SERVICE_NAME,
            ),
            server,
        )
    address = f"{settings.host}:{settings.port}"
    if settings.workers == 1 and settings.port:
        # Workers share a port their parent checked and holds; a single process checks
        # here, so a port in use is one line of ours rather than gRPC's log and ours.
        check_port_free(settings.host, settings.port)
    try:
        if settings.tls_cert_file is not None and settings.tls_key_file is not None:
            credentials = server_credentials(
                settings.tls_cert_file, settings.tls_key_file, settings.tls_client_ca_file
            )
            port = server.add_secure_port(address, credentials)
        else:
            port = server.add_insecure_port(address)
    except RuntimeError as exc:
        raise ListenError(f"cannot listen on {settings.host}:{settings.port}: {exc}") from None
    await server.start()
    metrics_server = None
    if settings.metrics_port is not None:
        metrics_server = MetricsServer(metrics)
        try:
            await metrics_server.start(settings.metrics_host, settings.metrics_port)
        except OSError:
            await server.stop(None)
            raise
    readiness_task = asyncio.create_task(
        _track_readiness(
            manager, health_servicer, settings.health_check_interval_seconds, readiness
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
        port,
        "TLS" if settings.tls_cert_file else "plaintext",
        f"{api_keys.key_count} API key(s)" if api_keys is not None else "no caller auth",
    )
    return RunningService(
        host=settings.host,
        port=port,
        settings=settings,
        servicer=servicer,
        _server=server,
        _manager=manager,
        _health=health_servicer,
        _readiness=readiness_task,
        readiness=readiness,
        _core=core,
        _rpcs=rpcs,
        auth=auth,
        _key_watch=key_watch,
        metrics=metrics,
        metrics_port=metrics_server.port if metrics_server is not None else None,
        _metrics_server=metrics_server,
    )


def exposure_warning(settings: Settings) -> str | None:
    """What the gRPC port lacks when it is reachable beyond loopback: caller authentication
    (API keys or mutual TLS) and TLS. None on loopback, or with both."""
    if _is_loopback(settings.host):
        return None
    missing = []
    if settings.api_keys_file is None and settings.tls_client_ca_file is None:
        missing.append(
            "without caller authentication (--api-keys-file or --tls-client-ca-file): "
            "anyone who reaches it can create, refresh and revoke sessions"
        )
    if settings.tls_cert_file is None:
        missing.append("without TLS (--tls-cert-file): tokens cross the network in plaintext")
    if not missing:
        return None
    return f"listening beyond loopback on {settings.host}:{settings.port} " + "; ".join(missing)


def _is_loopback(host: str) -> bool:
    try:
        addresses = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return False  # binding will fail and say so
    return all(ipaddress.ip_address(address[4][0]).is_loopback for address in addresses)


def check_port_free(host: str, port: int) -> tuple[socket.AddressFamily, Any]:
    """Bind ``host:port`` without ``SO_REUSEPORT`` and release it at once: raises
    ``ListenError`` while anything listens there, even sockets that would let an
    ``SO_REUSEPORT`` bind join them. ``SO_REUSEADDR`` lets connections of an earlier run in
    TIME_WAIT be ignored. Returns the address family and the address bound (with the port
    picked, for port 0)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
            return family, probe.getsockname()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ListenError(f"cannot listen on {host}:{port}: {reason}") from None


def _connection_age_options(settings: Settings) -> list[tuple[str, int]]:
    """GOAWAY after ``--max-connection-age-seconds`` (clients reconnect, and a connection-
    level balancer spreads them over new replicas); in-flight RPCs get the grace period."""
    if settings.max_connection_age_seconds is None:
        return []
    return [
        ("grpc.max_connection_age_ms", round(settings.max_connection_age_seconds * 1000)),
        ("grpc.max_connection_age_grace_ms", round(settings.grace_period_seconds * 1000)),
    ]


def _domain_sources(
    manager: SessionManager,
    servicer: SessionServicer,
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
        key_cache_stats=manager.key_cache_stats,
        key_cache_health=manager.key_cache_health,
        token_cache_stats=manager.token_cache_stats,
        core_connections=manager.core_connection_stats,
        internal_errors=lambda: servicer.internal_errors,
        auth_denials=auth_denials if auth is not None else None,
        now_ms=clock.now_ms if clock is not None else lambda: time.time_ns() // 1_000_000,
    )


@dataclass
class Readiness:
    """The readiness loop's verdict: ``cause`` is None while the service is ready, else one
    of ``NOT_READY_CAUSES`` (a metric label), with ``detail`` saying what to fix."""

    api_key_configured: bool
    cause: str | None = "starting"
    detail: str = "the first readiness check has not finished"


async def _track_readiness(
    manager: SessionManager,
    health_servicer: _DrainingHealthServicer,
    interval: float,
    readiness: Readiness,
) -> None:
    """SERVING while the key cache holds keys and a core answers; NOT_SERVING otherwise.

    Polling (rather than reacting to RPC failures) also notices a core that comes back
    while no traffic flows. The probe never waits behind callers' calls for a connection
    (core_client.py), and it gets the configured core timeout, the bound of every core call:
    a busy service answers a probe late, and a replica must not be pulled for being busy;
    a core that does not answer in that time is as unusable for the probe as for callers.
    Every change of the cause is logged (a WARNING while not ready), and a lasting one again
    every ``NOT_READY_REPEAT_SECONDS``, so a log read at any time says why the service does
    not serve.
    """
    loop = asyncio.get_running_loop()
    serving = False  # _serve starts every health service as NOT_SERVING
    # Starting is not worth a warning until it has lasted the repeat interval.
    last_warning = loop.time()
    while True:
        cause, detail = await _not_ready_cause(manager, readiness.api_key_configured)
        changed = cause != readiness.cause
        readiness.cause, readiness.detail = cause, detail
        if (cause is None) != serving:
            serving = cause is None
            for name in HEALTH_SERVICES:
                await health_servicer.set(name, _SERVING if serving else _NOT_SERVING)
        if cause is None:
            if changed:
                logger.info("readiness: SERVING")
        elif changed or loop.time() - last_warning >= NOT_READY_REPEAT_SECONDS:
            logger.warning("readiness: NOT_SERVING (%s): %s", cause, detail)
            last_warning = loop.time()
        await asyncio.sleep(interval)


async def _not_ready_cause(
    manager: SessionManager, api_key_configured: bool
) -> tuple[str | None, str]:
    """(None, "") when ready, else (cause, what to fix)."""
    try:
        await manager.check_core()
    except CoreApiKeyRejected:
        if api_key_configured:
            return "core_api_key_rejected", "the session core refused --core-api-key"
        return "core_api_key_rejected", (
            "the session core requires an API key: set --core-api-key "
            "(or SESSION_SERVICE_CORE_API_KEY)"
        )
    except CoreUnavailable as exc:
        return "core_unavailable", f"cannot use the session core (--core-url): {exc}"
    except CoreIncompatible as exc:
        return "core_incompatible", str(exc)
    except Exception as exc:
        # A bug in a probe must not end readiness tracking for the life of the process.
        logger.error("readiness probe failed with unexpected %s", type(exc).__name__)
        return "probe_failed", f"the readiness probe failed with {type(exc).__name__}"
    if not manager.key_cache_health().has_keys:
        stats = manager.key_cache_stats()
        if stats.fetches_ok + stats.fetches_failed == 0:
            return "starting", "the first fetch of the signing keys has not finished"
        return "no_signing_keys", (
            "the session core answers, but its signing keys (/.well-known/jwks.json) "
            "could not be fetched"
        )
    return None, ""
