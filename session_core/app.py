"""Starting and stopping a core inside the current event loop.

``start_core`` is the in-process API used by the CLI, by the gRPC service (which runs a
core in its own process) and by the tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiohttp import web

from session_common.clock import Clock, SystemClock
from session_common.tracing import build_tracer_provider, get_tracer
from session_core.config import CoreConfig
from session_core.http_api import CoreHttpApi
from session_core.metrics import CoreMetrics
from session_core.refresh_token import MASTER_KEY_NAME, RefreshTokenCodec, new_master_key
from session_core.revocation_feed import RevocationFeed
from session_core.sessions import CoreSessions
from session_core.signing_keys import SigningKeyManager
from session_core.storage.base import Storage
from session_core.storage.factory import open_storage

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
    from opentelemetry.trace import TracerProvider

log = logging.getLogger(__name__)
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# Entries past their window are deleted this often (or at the expired-session cleanup's
# interval when that is shorter); reads skip them meanwhile.
REVOCATION_PURGE_INTERVAL_S = 60.0


class PeriodicTask:
    """Runs ``job`` every ``interval_s`` seconds (first run after one interval, like the
    reference crons). ``runs`` counts completed runs; ``wait_for_run`` lets a caller
    observe one without polling."""

    def __init__(self, name: str, interval_s: float, job: Callable[[], Awaitable[object]]) -> None:
        self.name = name
        self.interval_s = interval_s
        self.runs = 0
        self._job = job
        self._ran = asyncio.Condition()
        self._task = asyncio.create_task(self._loop(), name=f"session-core {name}")

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self._job()
            except Exception:
                log.exception("background task %s failed; retrying next interval", self.name)
            async with self._ran:
                self.runs += 1
                self._ran.notify_all()

    async def wait_for_run(self, after: int) -> None:
        """Return once more than ``after`` runs have completed."""
        async with self._ran:
            await self._ran.wait_for(lambda: self.runs > after)

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


@dataclass
class RunningCore:
    """A core serving HTTP on ``url`` (``http://host:port`` + base path)."""

    url: str
    host: str
    port: int
    config: CoreConfig
    clock: Clock
    storage: Storage
    signing_keys: SigningKeyManager
    sessions: CoreSessions
    session_cleanup: PeriodicTask
    key_cleanup: PeriodicTask
    # The revocation feed, and the task deleting its entries past their window.
    revocation_feed: RevocationFeed
    revocation_purge: PeriodicTask
    # Served as GET /metrics; a service embedding the core adds it to its own endpoint.
    metrics: CoreMetrics
    _runner: web.AppRunner = field(repr=False)
    # Requests received per path: lets tests assert which calls reached the core.
    requests: Counter[str] = field(default_factory=Counter)
    # A tracer provider the core made from its own configuration (flushed at stop).
    _own_tracer_provider: SdkTracerProvider | None = None
    _stopped: bool = False

    async def stop(self) -> None:
        """Stop serving, then the background tasks, then close the database."""
        if self._stopped:
            return
        self._stopped = True
        self.revocation_feed.close()  # waiting long-polls answer now, not at their timeout
        try:
            await self._runner.cleanup()
        finally:
            await self.session_cleanup.stop()
            await self.key_cleanup.stop()
            await self.revocation_purge.stop()
            await self.storage.close()
            if self._own_tracer_provider is not None:
                self._own_tracer_provider.shutdown()


def _bind_any_port(host: str) -> socket.socket:
    """One socket on a free port: ``localhost`` may resolve to both ::1 and 127.0.0.1, and
    letting each get its own random port would leave the core with two ports."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, 0, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


def _url(host: str, port: int, base_path: str) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}{base_path}"


async def start_core(
    config: CoreConfig,
    *,
    clock: Clock | None = None,
    tracer_provider: TracerProvider | None = None,
) -> RunningCore:
    """Open the database, load or create the keys and serve the CDI 2.21 HTTP API.

    ``config.port == 0`` picks a free port; the result's ``port``/``url`` tell which.
    ``tracer_provider`` traces every request (an embedding service passes its own);
    without one, ``config.tracing`` decides.
    """
    clock = clock or SystemClock()
    storage = await open_storage(config.database)
    runner: web.AppRunner | None = None
    own_provider = None
    try:
        if tracer_provider is None:
            own_provider = build_tracer_provider(config.tracing, "session-core")
            tracer_provider = own_provider
        master_key = await storage.get_or_create_value(
            MASTER_KEY_NAME, new_master_key, clock.now_ms()
        )
        keys = SigningKeyManager(storage, clock, config)
        await keys.start()
        sessions = CoreSessions(storage, clock, config, keys, RefreshTokenCodec(master_key))
        feed = await RevocationFeed.open(storage, clock)
        api = CoreHttpApi(
            config,
            storage,
            clock,
            keys,
            sessions,
            feed=feed,
            tracer=get_tracer(tracer_provider) if tracer_provider is not None else None,
        )
        app = api.build_app()
        requests: Counter[str] = Counter()

        @web.middleware
        async def count_requests(request: web.Request, handler: _Handler) -> web.StreamResponse:
            requests[request.path] += 1
            return await handler(request)

        app.middlewares.append(count_requests)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site: web.BaseSite
        if config.port == 0:
            site = web.SockSite(runner, _bind_any_port(config.host))
        else:
            site = web.TCPSite(runner, config.host, config.port)
        await site.start()
        port = int(runner.addresses[0][1])
    except BaseException:
        if runner is not None:
            await runner.cleanup()
        await storage.close()
        if own_provider is not None:
            own_provider.shutdown()
        raise
    session_cleanup = PeriodicTask(
        "delete-expired-sessions",
        config.expired_session_cleanup_interval_s,
        sessions.delete_expired,
    )
    key_cleanup = PeriodicTask(
        "delete-expired-signing-keys",
        max(1.0, config.dynamic_key_update_interval_ms / 1000),
        keys.delete_expired,
    )
    revocation_purge = PeriodicTask(
        "purge-revocations",
        min(REVOCATION_PURGE_INTERVAL_S, config.expired_session_cleanup_interval_s),
        feed.purge,
    )
    core = RunningCore(
        url=_url(config.host, port, config.base_path),
        host=config.host,
        port=port,
        config=config,
        clock=clock,
        storage=storage,
        signing_keys=keys,
        sessions=sessions,
        session_cleanup=session_cleanup,
        key_cleanup=key_cleanup,
        revocation_feed=feed,
        revocation_purge=revocation_purge,
        metrics=api.metrics,
        _runner=runner,
        requests=requests,
        _own_tracer_provider=own_provider,
    )
    log.info("session core listening on %s", core.url)
    return core
