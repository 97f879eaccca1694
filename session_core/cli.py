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

from session_common.logs import configure_logging
from session_common.tracing import TracingUnavailable
from session_common.version import installed_version
from session_core.app import start_core
from session_core.config import (
    CONFIG_NAMES,
    ENV_PREFIX,
    CoreConfig,
    load_config,
    unknown_core_variables,
)
from session_core.errors import ConfigError
from session_core.storage.base import StorageError, UnsupportedDatabaseURL

log = logging.getLogger("session_core")

# Every setting's flag is its name with dashes (one name everywhere: file key, flag and
# SESSION_CORE_<NAME> variable); flags take precedence over the environment and the file.
_HELP = {
    "host": "interface to listen on (default localhost)",
    "port": "TCP port (default 3567; 0 picks a free one)",
    "data_dir": "directory of the default SQLite database core.db (default .data)",
    "database": "sqlite:///path/core.db or postgresql://user@host:port/db "
    "(default: core.db in --data-dir)",
    "access_token_validity": "seconds (default 3600)",
    "refresh_token_validity": "minutes (default 144000)",
    "access_token_dynamic_signing_key_update_interval": "hours (default 168)",
    "api_keys": "comma-separated; each >= 20 chars of [A-Za-z0-9=-]",
    "base_path": "prefix of every API path, e.g. /core",
    "dynamic_signing_key_overlap_ms": "how long a new dynamic key is published before it "
    "signs (default 60000)",
    "expired_session_cleanup_interval_s": "seconds between deletions of expired sessions "
    "(default 43200)",
    "log_level": "debug, info, warning or error (default info)",
    "log_format": "json, text, or auto (default: text on a terminal, else json)",
    "tracing": "off (default), otlp (OTEL_EXPORTER_OTLP_* variables) or console",
}
assert set(_HELP) == set(CONFIG_NAMES), "every setting needs a flag"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="session-core", description="A CDI 2.21-compatible session core (SuperTokens)."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {installed_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser(
        "serve",
        help="serve the core's HTTP API",
        description="Serve the core's HTTP API. Every setting is a flag, a SESSION_CORE_<NAME> "
        "variable and a key of the --config file, in that order of precedence.",
    )
    serve.add_argument(
        "--config",
        metavar="FILE",
        help="a JSON or TOML file of settings, keyed by name (env SESSION_CORE_CONFIG)",
    )
    for name, text in _HELP.items():
        serve.add_argument(
            f"--{name.replace('_', '-')}",
            dest=name,
            metavar=name.upper(),
            help=f"{text} (env {ENV_PREFIX}{name.upper()})",
        )
    return parser


def config_from_args(args: argparse.Namespace) -> CoreConfig:
    flags = {name: getattr(args, name) for name in CONFIG_NAMES}
    config_file = args.config or os.environ.get(f"{ENV_PREFIX}CONFIG") or None
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
    for message in unknown_core_variables(os.environ):
        log.warning("%s", message)
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
