"""``session-core serve``: run the core as a process until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence

import uvloop

from session_core import installed_version
from session_core.app import start_core
from session_core.config import CoreConfig, load_config
from session_core.errors import ConfigError
from session_core.logs import configure_logging
from session_core.storage.base import StorageError, UnsupportedDatabaseURL
from session_core.tracing import TracingUnavailable

log = logging.getLogger("session_core")

# flag name -> config name (flags take precedence over env and file, §8 of the brief)
_FLAGS = {
    "host": "host",
    "port": "port",
    "database": "database_url",
    "access_token_validity": "access_token_validity",
    "refresh_token_validity": "refresh_token_validity",
    "access_token_dynamic_signing_key_update_interval": (
        "access_token_dynamic_signing_key_update_interval"
    ),
    "api_keys": "api_keys",
    "base_path": "base_path",
    "log_level": "log_level",
    "log_format": "log_format",
    "tracing": "tracing",
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="session-core", description="A CDI 2.21-compatible session core (SuperTokens)."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {installed_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the core's HTTP API")
    serve.add_argument("--host", help="interface to listen on (default localhost)")
    serve.add_argument("--port", help="TCP port (default 3567; 0 picks a free one)")
    serve.add_argument(
        "--database", help="sqlite:///path/core.db or postgresql://user@host:port/db"
    )
    serve.add_argument("--config", help="a JSON or TOML file with SuperTokens setting names")
    serve.add_argument("--access-token-validity", help="seconds (default 3600)")
    serve.add_argument("--refresh-token-validity", help="minutes (default 144000)")
    serve.add_argument(
        "--access-token-dynamic-signing-key-update-interval", help="hours (default 168)"
    )
    serve.add_argument("--api-keys", help="comma-separated; each >= 20 chars of [A-Za-z0-9=-]")
    serve.add_argument("--base-path", help="prefix of every API path, e.g. /core")
    serve.add_argument("--log-level", help="debug, info, warning or error")
    serve.add_argument(
        "--log-format", help="json, text, or auto (default: text on a terminal, else json)"
    )
    serve.add_argument(
        "--tracing", help="off (default), otlp (OTEL_EXPORTER_OTLP_* variables) or console"
    )
    return parser


def config_from_args(args: argparse.Namespace) -> CoreConfig:
    flags = {config_name: getattr(args, flag) for flag, config_name in _FLAGS.items()}
    config_file = args.config or os.environ.get("SESSION_CORE_CONFIG") or None
    return load_config(flags=flags, env=os.environ, config_file=config_file)


async def serve(config: CoreConfig) -> None:
    core = await start_core(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"session-core listening on {core.url}", file=sys.stderr, flush=True)
    try:
        await stop.wait()
        log.info("shutting down")
    finally:
        await core.stop()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        config = config_from_args(args)
    except ConfigError as exc:
        print(f"session-core: invalid configuration: {exc}", file=sys.stderr)
        return 2
    configure_logging(config.log_level, config.log_format)
    try:
        uvloop.run(serve(config))
    except (StorageError, UnsupportedDatabaseURL) as exc:
        # The configured database cannot be used: a configuration error, like a bad flag.
        print(f"session-core: cannot open the database: {exc}", file=sys.stderr)
        return 2
    except TracingUnavailable as exc:
        print(f"session-core: invalid configuration: tracing: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"session-core: cannot start: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
