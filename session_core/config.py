"""The core's settings: the SuperTokens core 5.0.0's names (``config.yaml``,
``io.supertokens.config.CoreConfig``) for what it shares with it, their defaults and
validation, read by ``session_common.config_loading``.

Sources, highest precedence first: command-line flags, ``SESSION_CORE_<NAME>`` environment
variables, an optional JSON or TOML file (``--config``), the defaults. Every setting has one
name, used three ways: the file key and ``CoreConfig`` field (``access_token_validity``),
the flag (``--access-token-validity``) and the environment variable
(``SESSION_CORE_ACCESS_TOKEN_VALIDITY``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from session_common.config_loading import (
    ConfigError,
    Declaration,
    as_lowercase,
    as_str,
    setting,
)
from session_common.logs import LOG_FORMATS, LOG_LEVELS
from session_common.tracing import TRACING_EXPORTERS

ENV_PREFIX = "SESSION_CORE_"
_API_KEY_RE = re.compile(r"[A-Za-z0-9=\-]{20,}")
_BASE_PATH_RE = re.compile(r"(/[A-Za-z0-9._~!$&'()*+,;=:@%\-]+)*")
# The SuperTokens core still accepts the dynamic-key interval under its older name.
ALIASES = {
    "access_token_signing_key_update_interval": "access_token_dynamic_signing_key_update_interval"
}


@dataclass(frozen=True)
class CoreConfig:
    """Every setting of the core, with its ``--help`` text."""

    host: str = setting("localhost", "interface to listen on")
    port: int = setting(3567, "TCP port; 0 picks a free one")
    # Where the default SQLite database lives; not used when ``database`` is set.
    data_dir: Path = setting(Path(".data"), "directory of the default SQLite database core.db")
    database: str = setting(
        "",
        "sqlite:///path/core.db or postgresql://user@host:port/db",
        default_help="core.db in --data-dir",
    )
    access_token_validity: int = setting(3600, "seconds")
    refresh_token_validity: float = setting(144000.0, "minutes")
    access_token_dynamic_signing_key_update_interval: float = setting(168.0, "hours")
    api_keys: tuple[str, ...] = setting((), "comma-separated; each >= 20 chars of [A-Za-z0-9=-]")
    base_path: str = setting("", "prefix of every API path, e.g. /core")
    dynamic_signing_key_overlap_ms: int = setting(
        60_000, "how long a new dynamic key is published before it signs"
    )
    expired_session_cleanup_interval_s: float = setting(
        43_200.0, "seconds between deletions of expired sessions"
    )
    log_level: str = setting("info", "debug, info, warning or error")
    log_format: str = setting("auto", "json, text, or auto (text on a terminal, else json)")
    tracing: str = setting(
        "off", "off, otlp (configured by the OTEL_EXPORTER_OTLP_* variables) or console"
    )

    def __post_init__(self) -> None:
        if not self.database:
            database = f"sqlite:///{Path(self.data_dir).expanduser().resolve() / 'core.db'}"
            object.__setattr__(self, "database", database)
        _validate(self)

    @property
    def access_token_validity_ms(self) -> int:
        return self.access_token_validity * 1000

    @property
    def refresh_token_validity_ms(self) -> int:
        return round(self.refresh_token_validity * 60_000)

    @property
    def dynamic_key_update_interval_ms(self) -> int:
        return round(self.access_token_dynamic_signing_key_update_interval * 3_600_000)

    @property
    def dynamic_key_lifetime_ms(self) -> int:
        """How long a dynamic key stays published and accepted: interval + 2 x access
        validity (as the SuperTokens core's ``SigningKeys``), so every token it signed has
        expired before it disappears."""
        return self.dynamic_key_update_interval_ms + 2 * self.access_token_validity_ms


def _validate(c: CoreConfig) -> None:
    if not c.host.strip():
        raise ConfigError("host must not be empty")
    if not 0 <= c.port <= 65535:
        raise ConfigError(f"port must be between 0 and 65535 (got {c.port})")
    if not 1 <= c.access_token_validity <= 86_400_000:
        raise ConfigError(
            "'access_token_validity' must be between 1 and 86400000 seconds (inclusive)"
        )
    if not c.refresh_token_validity * 60 > c.access_token_validity:
        raise ConfigError(
            "'refresh_token_validity' (in minutes) must be strictly greater than "
            "'access_token_validity' (in seconds)"
        )
    if not c.access_token_dynamic_signing_key_update_interval >= 1:
        raise ConfigError(
            "'access_token_dynamic_signing_key_update_interval' must be at least 1 hour"
        )
    for key in c.api_keys:
        if not _API_KEY_RE.fullmatch(key):
            raise ConfigError(
                "Invalid characters or length in 'api_keys': each key must have at least 20 "
                "characters from a-z, A-Z, 0-9, '=' and '-'"
            )
    if c.base_path and not _BASE_PATH_RE.fullmatch(c.base_path):
        raise ConfigError("'base_path' must be a URL path such as /core (no spaces, no query)")
    if c.dynamic_signing_key_overlap_ms < 0:
        raise ConfigError("dynamic_signing_key_overlap_ms must not be negative")
    if c.dynamic_signing_key_overlap_ms >= c.dynamic_key_update_interval_ms:
        raise ConfigError(
            "dynamic_signing_key_overlap_ms must be shorter than the key update interval"
        )
    if not c.expired_session_cleanup_interval_s > 0:
        raise ConfigError("expired_session_cleanup_interval_s must be positive")
    if c.log_level not in LOG_LEVELS:
        raise ConfigError(f"log_level must be one of {', '.join(LOG_LEVELS)}")
    if c.log_format not in LOG_FORMATS:
        raise ConfigError(f"log_format must be one of {', '.join(LOG_FORMATS)}")
    if c.tracing not in TRACING_EXPORTERS:
        raise ConfigError(f"tracing must be one of {', '.join(TRACING_EXPORTERS)}")


# -- the settings whose type does not say enough --------------------------------------------


def _as_api_keys(value: object) -> tuple[str, ...]:
    """A list, or comma-separated text; the SuperTokens core strips all whitespace from it
    before splitting it."""
    parts = [as_str(v) for v in value] if isinstance(value, list | tuple) else [as_str(value)]
    keys = (re.sub(r"\s", "", key) for part in parts for key in part.split(","))
    return tuple(key for key in keys if key)


def _as_base_path(value: object) -> str:
    path = as_str(value)
    if path in ("", "/"):
        return ""
    if not path.startswith("/"):
        path = "/" + path
    return path.rstrip("/")


DECLARATION = Declaration(
    CoreConfig,
    env_prefix=ENV_PREFIX,
    error=ConfigError,
    name_in_messages=lambda given_as, _source: f"'{given_as}'",
    parsers={
        "api_keys": _as_api_keys,
        "base_path": _as_base_path,
        "log_level": as_lowercase,
        "log_format": as_lowercase,
        "tracing": as_lowercase,
    },
    aliases=ALIASES,
    # Given but empty (e.g. an unset secret substituted as ""): an error, as in the
    # SuperTokens core, never a silent "no API key".
    required_when_given=frozenset({"api_keys"}),
)
CONFIG_NAMES = DECLARATION.names


def unknown_core_variables(env: Mapping[str, str]) -> list[str]:
    """A warning for each ``SESSION_CORE_*`` variable that names no setting, alias or
    ``CONFIG`` (the file)."""
    return DECLARATION.unknown_variables(env, "config")


def load_config(
    *,
    flags: Mapping[str, object] | None = None,
    env: Mapping[str, str] | None = None,
    config_file: str | Path | None = None,
) -> CoreConfig:
    """Merge the sources (flag > env > file > default) and validate the result.

    Raises ``ConfigError`` with a message naming the offending setting.
    """
    return DECLARATION.load(
        flags=flags, env=os.environ if env is None else env, config_file=config_file
    )
