"""``session-service serve``: run the gRPC service until SIGTERM/SIGINT.

With no ``--core-url`` the project's own session core runs in the same process on a
loopback port, with SQLite under ``--data-dir``, so a first run needs nothing else; it
accepts only this service (``server.embedded_core_key``).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence

import uvloop

from session_common.logs import configure_logging
from session_common.version import installed_version
from session_service.server import start_service
from session_service.settings import (
    SETTING_NAMES,
    ListenError,
    Settings,
    SettingsError,
    add_arguments,
    load_settings,
    unknown_service_variables,
)
from session_service.transport.listening import exposure_warning
from session_service.workers import run_workers

logger = logging.getLogger("session_service")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="session-service",
        description="SuperTokens-compatible (CDI 2.21) session management over gRPC.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {installed_version()}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve",
        help="run the service",
        description="Run the service. Every flag can also be set as SESSION_SERVICE_<NAME>.",
    )
    add_arguments(serve)
    return parser


async def serve(settings: Settings) -> None:
    """Serve until SIGTERM or SIGINT, then shut down gracefully."""
    service = await start_service(settings)
    stop_requested = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop_requested.set)
    reloads: set[asyncio.Task[bool]] = set()

    def reload_api_keys() -> None:
        task = loop.create_task(service.reload_api_keys())
        reloads.add(task)  # keep a reference until it is done
        task.add_done_callback(reloads.discard)

    loop.add_signal_handler(signal.SIGHUP, reload_api_keys)
    try:
        await stop_requested.wait()
        logger.info("shutdown requested; draining for up to %ss", settings.grace_period_seconds)
    finally:
        await service.stop()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings({name: getattr(args, name) for name in SETTING_NAMES})
    except SettingsError as exc:
        print(f"session-service: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    for message in unknown_service_variables(os.environ):
        logger.warning("%s", message)
    if (warning := exposure_warning(settings)) is not None:
        logger.warning("%s", warning)
    if settings.workers > 1:
        return run_workers(settings, serve_one)
    return serve_one(settings)


def serve_one(settings: Settings) -> int:
    """One serving process (the whole service, or one of ``--workers``); the exit status."""
    try:
        uvloop.run(serve(settings))
    except (SettingsError, ListenError) as exc:
        # The domain configuration is checked by start_service, before it listens.
        print(f"session-service: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        logger.error("%s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
