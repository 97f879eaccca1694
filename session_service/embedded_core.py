"""The embedded session core: what ``serve`` starts in-process (or, with ``--workers``, in a
process of its own) when no ``--core-url`` is given. The only module of the service that
imports ``session_core``."""

from __future__ import annotations

import dataclasses
import logging
import secrets
from typing import TYPE_CHECKING

from session_core.app import RunningCore, start_core
from session_core.config import CoreConfig
from session_core.storage.base import StorageError, UnsupportedDatabaseURL
from session_service.settings import Settings, SettingsError

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

logger = logging.getLogger("session_service.server")

EmbeddedCore = RunningCore


def embedded_core_key() -> str:
    """A new API key for the embedded core, made at each start. It stays in memory: the
    service's own (forked) processes inherit it; it is never logged, written to disk, or put
    in argv or the environment (both readable in /proc), so nothing else on the host can
    call the core's session API."""
    return secrets.token_hex(32)


def using_embedded_core(settings: Settings, core_url: str, core_key: str) -> Settings:
    """``settings`` of a service that calls the embedded core at ``core_url``."""
    return dataclasses.replace(settings, core_url=core_url, core_api_key=core_key, core_database="")


async def start_embedded_core(
    settings: Settings, tracer_provider: TracerProvider | None, api_key: str
) -> EmbeddedCore:
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
