"""Core configuration (cdi-2.21.md §8): defaults, validation and loading.

Sources, highest precedence first: command-line flags, ``SESSION_CORE_<NAME>`` environment
variables, an optional JSON or TOML file using the SuperTokens key names, the defaults.
Every setting has one name, used three ways: the file key and ``CoreConfig`` field
(``access_token_validity``), the flag (``--access-token-validity``) and the environment
variable (``SESSION_CORE_ACCESS_TOKEN_VALIDITY``).
"""

from __future__ import annotations

import json
import math
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from session_common.config_loading import unknown_variables
from session_common.logs import LOG_FORMATS, LOG_LEVELS
from session_common.tracing import TRACING_EXPORTERS
from session_core.errors import ConfigError

ENV_PREFIX = "SESSION_CORE_"
_API_KEY_RE = re.compile(r"[A-Za-z0-9=\-]{20,}")
_BASE_PATH_RE = re.compile(r"(/[A-Za-z0-9._~!$&'()*+,;=:@%\-]+)*")
# The old SuperTokens name of the dynamic-key interval is still accepted (§8).
ALIASES = {
    "access_token_signing_key_update_interval": "access_token_dynamic_signing_key_update_interval"
}


@dataclass(frozen=True)
class CoreConfig:
    host: str = "localhost"
    port: int = 3567
    # Where the default SQLite database lives; not used when ``database`` is set.
    data_dir: Path = Path(".data")
    # sqlite:///path/core.db or postgresql://user@host:port/db; empty: core.db in data_dir.
    database: str = ""
    access_token_validity: int = 3600  # seconds
    refresh_token_validity: float = 144000.0  # minutes
    access_token_dynamic_signing_key_update_interval: float = 168.0  # hours
    api_keys: tuple[str, ...] = ()
    base_path: str = ""
    dynamic_signing_key_overlap_ms: int = 60_000
    expired_session_cleanup_interval_s: float = 43_200.0
    log_level: str = "info"
    log_format: str = "auto"  # json, text, or auto (text on a terminal)
    tracing: str = "off"  # off, otlp (OTEL_EXPORTER_OTLP_* variables) or console

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
        """How long a dynamic key stays published and accepted: interval + 2 x access validity
        (§5), so every token it signed has expired before it disappears."""
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


# -- parsing of raw values (strings from flags/env, typed values from a file) ------------


def _as_int(name: str, value: object) -> int:
    if isinstance(value, bool):
        raise ConfigError(f"'{name}' must be an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*-?[0-9]+\s*", value):
        return int(value)
    raise ConfigError(f"'{name}' must be an integer (got {value!r})")


def _as_float(name: str, value: object) -> float:
    if isinstance(value, bool):
        raise ConfigError(f"'{name}' must be a number")
    if isinstance(value, int | float):
        result = float(value)
    elif isinstance(value, str):
        try:
            result = float(value)
        except ValueError:
            raise ConfigError(f"'{name}' must be a number (got {value!r})") from None
    else:
        raise ConfigError(f"'{name}' must be a number (got {value!r})")
    if not math.isfinite(result):
        raise ConfigError(f"'{name}' must be a finite number")
    return result


def _as_str(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"'{name}' must be a string")
    return value.strip()


def _as_api_keys(name: str, value: object) -> tuple[str, ...]:
    if isinstance(value, list | tuple):
        parts = [_as_str(name, v) for v in value]
    else:
        parts = _as_str(name, value).split(",")
    # SuperTokens strips all whitespace from the list before splitting it.
    keys = tuple(k for k in (re.sub(r"\s", "", p) for p in parts) if k)
    if not keys:
        # Given but empty (e.g. an unset secret substituted as ""): an error, as in
        # SuperTokens, never a silent "no API key".
        raise ConfigError(f"'{name}' is empty: give at least one key, or leave it unset")
    return keys


def _as_base_path(name: str, value: object) -> str:
    path = _as_str(name, value)
    if path in ("", "/"):
        return ""
    if not path.startswith("/"):
        path = "/" + path
    return path.rstrip("/")


def _as_log_level(name: str, value: object) -> str:
    return _as_str(name, value).lower()


def _as_path(name: str, value: object) -> Path:
    path = _as_str(name, value)
    if not path:
        raise ConfigError(f"'{name}' must not be empty")
    return Path(path)


_PARSERS: dict[str, Callable[[str, object], Any]] = {
    "host": _as_str,
    "port": _as_int,
    "data_dir": _as_path,
    "database": _as_str,
    "access_token_validity": _as_int,
    "refresh_token_validity": _as_float,
    "access_token_dynamic_signing_key_update_interval": _as_float,
    "api_keys": _as_api_keys,
    "base_path": _as_base_path,
    "dynamic_signing_key_overlap_ms": _as_int,
    "expired_session_cleanup_interval_s": _as_float,
    "log_level": _as_log_level,
    "log_format": _as_log_level,
    "tracing": _as_log_level,
}
CONFIG_NAMES = tuple(f.name for f in fields(CoreConfig))
assert set(CONFIG_NAMES) == set(_PARSERS)


def _canonical(name: str) -> str:
    return ALIASES.get(name, name)


def read_config_file(path: str | Path) -> dict[str, object]:
    """Read a JSON (``*.json``) or TOML (anything else ending ``.toml``) config file."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {p}: {exc.strerror}") from None
    try:
        if p.suffix.lower() == ".toml":
            data: object = tomllib.loads(raw.decode("utf-8"))
        else:
            data = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"config file {p} is not valid {p.suffix.lstrip('.') or 'JSON'}: {exc}"
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {p} must hold an object/table of settings")
    return data


def _collect(source: str, values: Mapping[str, object]) -> dict[str, object]:
    out: dict[str, object] = {}
    for raw_name, value in values.items():
        if value is None:
            continue
        name = _canonical(raw_name)
        if name not in _PARSERS:
            raise ConfigError(f"unknown setting '{raw_name}' in {source}")
        out[name] = _PARSERS[name](raw_name, value)
    return out


def env_values(env: Mapping[str, str]) -> dict[str, object]:
    """Settings from ``SESSION_CORE_<NAME>`` variables (the CLI warns about unknown ones)."""
    out: dict[str, object] = {}
    for name in (*CONFIG_NAMES, *ALIASES):
        value = env.get(ENV_PREFIX + name.upper())
        if value is not None and (value != "" or name == "api_keys"):
            out[name] = value
    return out


def unknown_core_variables(env: Mapping[str, str]) -> list[str]:
    """``unknown_variables`` for the core: its settings, their aliases and ``CONFIG``."""
    return unknown_variables(env, ENV_PREFIX, (*CONFIG_NAMES, *ALIASES, "config"))


def load_config(
    *,
    flags: Mapping[str, object] | None = None,
    env: Mapping[str, str] | None = None,
    config_file: str | Path | None = None,
) -> CoreConfig:
    """Merge the sources (flag > env > file > default) and validate the result.

    Raises ``ConfigError`` with a message naming the offending setting.
    """
    merged: dict[str, object] = {}
    if config_file is not None:
        merged.update(_collect(f"config file {config_file}", read_config_file(config_file)))
    merged.update(_collect("environment", env_values(os.environ if env is None else env)))
    merged.update(_collect("command-line flags", flags or {}))
    return CoreConfig(**merged)  # type: ignore[arg-type]
