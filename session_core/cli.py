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

from session_common.config_loading import ConfigError
from session_common.logs import configure_logging
from session_common.tracing import TracingUnavailable
from session_common.version import installed_version
from session_core.app import start_core
from session_core.config import (
    CONFIG_NAMES,
    DECLARATION,
    ENV_PREFIX,
    CoreConfig,
    load_config,
    unknown_core_variables,
)
from session_core.storage.base import StorageError, UnsupportedDatabaseURL

log = logging.getLogger("session_core")


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
    DECLARATION.add_arguments(serve)
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
