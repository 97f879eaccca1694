"""Service configuration: command-line flags > ``SESSION_SERVICE_*`` environment > defaults.

Every setting has one name used three ways: the dataclass field, the flag
(``--core-url``) and the environment variable (``SESSION_SERVICE_CORE_URL``). Invalid values
raise ``SettingsError`` naming the flag, so the CLI can print it and exit with status 2.
"""

from __future__ import annotations

import argparse
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from session_common.config_loading import unknown_variables
from session_common.logs import LOG_FORMATS, LOG_LEVELS
from session_common.tracing import TRACING_EXPORTERS
from session_service.domain.api import (
    DEFAULT_MAX_ACCESS_TOKEN_BYTES,
    MIN_MAX_ACCESS_TOKEN_BYTES,
    AntiCsrfMode,
    ClaimValidatorSpec,
    CoreClientConfig,
    DomainConfig,
    InvalidArgument,
    KeyCacheConfig,
    TokenCacheConfig,
    parse_anti_csrf_mode,
)
from session_service.domain.claim_validators_json import claim_validators_from_json

ENV_PREFIX = "SESSION_SERVICE_"
# What a GetSession request holds besides the access token (anti-CSRF token, flags, claim
# validators), kept free under --max-receive-message-bytes.
_REQUEST_ROOM = 1024


class SettingsError(ValueError):
    """A setting has an invalid value; the message names it."""


class ListenError(OSError):
    """A configured port cannot be bound (in use, or not an address of this host); the
    message names it. Like a ``SettingsError``, the CLI reports it in one line, status 2."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Everything ``start_service`` needs. Field docs double as ``--help`` text."""

    host: str = field(default="127.0.0.1", metadata={"help": "address to listen on"})
    port: int = field(default=50051, metadata={"help": "port to listen on; 0 picks a free one"})
    core_url: str = field(
        default="",
        metadata={
            "help": "session core URL(s), ';'-separated; empty starts an embedded core "
            "with SQLite under --data-dir"
        },
    )
    core_api_key: str | None = field(
        default=None,
        repr=False,
        metadata={
            "help": "API key for the --core-url core (prefer the environment variable); the "
            "embedded core gets a new random one at each start"
        },
    )
    core_timeout_seconds: float = field(
        default=5.0, metadata={"help": "upper bound of every core HTTP call"}
    )
    core_max_connections: int = field(
        default=100,
        metadata={
            "help": "core requests on the wire at once (per serving process); more calls wait "
            "for one within their deadline, then get RESOURCE_EXHAUSTED"
        },
    )
    core_ca_file: Path | None = field(
        default=None,
        metadata={"help": "PEM CA bundle trusted for https core URLs (default: system CAs)"},
    )
    core_client_cert_file: Path | None = field(
        default=None, metadata={"help": "PEM client certificate for mutual TLS to the core"}
    )
    core_client_key_file: Path | None = field(
        default=None, metadata={"help": "PEM private key of --core-client-cert-file"}
    )
    data_dir: Path = field(
        default=Path(".data"), metadata={"help": "where the embedded core keeps core.db"}
    )
    core_database: str = field(
        default="",
        repr=False,  # a PostgreSQL URL may carry a password
        metadata={
            "help": "database of the embedded core: sqlite:///path or "
            "postgresql://user@host:port/db; empty: core.db under --data-dir"
        },
    )
    api_domain: str = field(
        default="http://localhost:3001",
        metadata={"help": "the SDK appInfo api_domain; with --api-base-path it makes iss"},
    )
    api_base_path: str = field(default="/auth", metadata={"help": "the SDK api_base_path"})
    anti_csrf: AntiCsrfMode = field(
        default=AntiCsrfMode.NONE, metadata={"help": "NONE or VIA_TOKEN"}
    )
    use_dynamic_access_token_signing_key: bool = field(
        default=True,
        metadata={"help": "sign new sessions with the rotating key (false: the static key)"},
    )
    required_claim_validators: tuple[ClaimValidatorSpec, ...] = field(
        default=(),
        metadata={
            "help": "server-wide claim validators every GetSession applies, as a JSON list "
            'of session.v1.ClaimValidator, e.g. [{"has_value": {"key": "st-ev", "value": true}}]'
        },
    )
    jwks_max_age_seconds: float = field(
        default=60.0, metadata={"help": "signing-key cache freshness without Cache-Control"}
    )
    jwks_refetch_cooldown_seconds: float = field(
        default=0.5, metadata={"help": "minimum gap between unknown-kid refetches"}
    )
    jwks_max_stale_seconds: float = field(
        default=3600.0,
        metadata={"help": "how long past freshness the last good keys serve if the core is down"},
    )
    max_access_token_bytes: int = field(
        default=DEFAULT_MAX_ACCESS_TOKEN_BYTES,
        metadata={
            "help": "longest access token accepted and issued: GetSession refuses longer "
            "ones, writes that would make a session's tokens longer are INVALID_ARGUMENT "
            "(cookies: a browser keeps about 4096 bytes, so 4000 there)"
        },
    )
    revoke_session_on_token_theft: bool = field(
        default=True,
        metadata={
            "help": "RefreshSession revokes a session in which it detects token theft, as the "
            "SDK's default theft handler does (false: the caller revokes it)"
        },
    )
    token_cache: bool = field(
        default=True,
        metadata={"help": "remember verified access tokens (by SHA-256) so repeats skip the check"},
    )
    token_cache_size: int = field(
        default=100_000,
        metadata={"help": "verified tokens remembered (a few hundred bytes each)"},
    )
    token_cache_rejected_size: int = field(
        default=10_000,
        metadata={"help": "invalid tokens remembered, apart from the verified ones"},
    )
    workers: int = field(
        default=1,
        metadata={
            "help": "serving processes sharing the port (SO_REUSEPORT; the kernel balances "
            "connections, not RPCs)"
        },
    )
    max_receive_message_bytes: int = field(
        default=64 * 1024, metadata={"help": "largest request accepted (RESOURCE_EXHAUSTED above)"}
    )
    max_concurrent_rpcs: int | None = field(
        default=None,
        metadata={"help": "RPCs served at once before RESOURCE_EXHAUSTED; unset: no cap"},
    )
    reflection: bool = field(default=True, metadata={"help": "serve gRPC server reflection"})
    api_keys_file: Path | None = field(
        default=None,
        metadata={
            "help": "file of '<key> <scope>' lines (scope verify or full); callers must send "
            "'x-api-key' metadata; re-read on change and SIGHUP; unset: no caller auth"
        },
    )
    tls_cert_file: Path | None = field(
        default=None, metadata={"help": "PEM certificate chain: serve gRPC over TLS"}
    )
    tls_key_file: Path | None = field(
        default=None, metadata={"help": "PEM private key of --tls-cert-file"}
    )
    tls_client_ca_file: Path | None = field(
        default=None,
        metadata={"help": "PEM CA: require client certificates signed by it (mutual TLS)"},
    )
    grace_period_seconds: float = field(
        default=10.0, metadata={"help": "how long in-flight RPCs may take to finish on shutdown"}
    )
    health_check_interval_seconds: float = field(
        default=2.0, metadata={"help": "how often readiness re-checks the core"}
    )
    log_level: str = field(default="info", metadata={"help": "debug, info, warning or error"})
    log_format: str = field(
        default="auto",
        metadata={"help": "json, text, or auto (text on a terminal, json otherwise)"},
    )
    max_connection_age_seconds: float | None = field(
        default=None,
        metadata={
            "help": "close each client connection after this long (clients reconnect, so "
            "new replicas get traffic behind connection-level load balancing); unset: never"
        },
    )
    metrics_host: str = field(
        default="127.0.0.1", metadata={"help": "address of the Prometheus /metrics endpoint"}
    )
    metrics_port: int | None = field(
        default=None,
        metadata={"help": "HTTP port serving Prometheus /metrics; 0 picks a free one; unset: off"},
    )
    tracing: str = field(
        default="off",
        metadata={
            "help": "OpenTelemetry traces: off, otlp (configured by the OTEL_EXPORTER_OTLP_* "
            "variables) or console"
        },
    )
    override_module: str | None = field(
        default=None,
        metadata={
            "help": "Python module (or module:function) whose override(original) returns the "
            "recipe functions to use (docs/operations.md)"
        },
    )
    claims_module: str | None = field(
        default=None,
        metadata={
            "help": "Python module (or module:attribute) whose 'claims' list defines the "
            "session claims the service fetches (docs/claims.md)"
        },
    )

    def __post_init__(self) -> None:
        if not self.host.strip():
            raise SettingsError("--host must not be empty")
        if not 0 <= self.port <= 65535:
            raise SettingsError(f"--port must be between 0 and 65535 (got {self.port})")
        if self.max_receive_message_bytes < 1024:
            raise SettingsError("--max-receive-message-bytes must be at least 1024")
        if self.max_access_token_bytes < MIN_MAX_ACCESS_TOKEN_BYTES:
            raise SettingsError(
                f"--max-access-token-bytes must be at least {MIN_MAX_ACCESS_TOKEN_BYTES}"
            )
        if self.max_access_token_bytes > self.max_receive_message_bytes - _REQUEST_ROOM:
            raise SettingsError(
                "--max-access-token-bytes must leave a GetSession request room: at most "
                f"--max-receive-message-bytes - {_REQUEST_ROOM}"
            )
        if self.max_concurrent_rpcs is not None and self.max_concurrent_rpcs < 1:
            raise SettingsError("--max-concurrent-rpcs must be at least 1")
        for name in ("token_cache_size", "token_cache_rejected_size"):
            if getattr(self, name) < 0:
                raise SettingsError(f"--{_flag(name)} must not be negative")
        if self.core_max_connections < 1:
            raise SettingsError("--core-max-connections must be at least 1")
        if not 1 <= self.workers <= 256:
            raise SettingsError(f"--workers must be between 1 and 256 (got {self.workers})")
        for name in ("grace_period_seconds", "core_timeout_seconds"):
            if getattr(self, name) < 0:
                raise SettingsError(f"--{_flag(name)} must not be negative")
        if not self.health_check_interval_seconds > 0:
            raise SettingsError("--health-check-interval-seconds must be positive")
        if self.log_level not in LOG_LEVELS:
            raise SettingsError(f"--log-level must be one of {', '.join(LOG_LEVELS)}")
        if self.log_format not in LOG_FORMATS:
            raise SettingsError(f"--log-format must be one of {', '.join(LOG_FORMATS)}")
        if self.tracing not in TRACING_EXPORTERS:
            raise SettingsError(f"--tracing must be one of {', '.join(TRACING_EXPORTERS)}")
        age = self.max_connection_age_seconds
        if age is not None and not 0 < age <= 366 * 86400:  # also refuses NaN and infinity
            raise SettingsError("--max-connection-age-seconds must be positive (at most a year)")
        if self.metrics_port is not None and not 0 <= self.metrics_port <= 65535:
            raise SettingsError(
                f"--metrics-port must be between 0 and 65535 (got {self.metrics_port})"
            )
        for cert, key in (
            ("tls_cert_file", "tls_key_file"),
            ("core_client_cert_file", "core_client_key_file"),
        ):
            if (getattr(self, cert) is None) != (getattr(self, key) is None):
                raise SettingsError(f"--{_flag(cert)} and --{_flag(key)} go together")
        if self.core_api_key is not None and self.embedded_core:
            raise SettingsError(
                "--core-api-key is for --core-url (the embedded core gets a new random key "
                "at each start)"
            )
        if self.core_database and not self.embedded_core:
            raise SettingsError("--core-database is for the embedded core (not with --core-url)")
        if self.core_database and not self.core_database.startswith(
            ("sqlite://", "postgresql://", "postgres://")
        ):
            raise SettingsError("--core-database must start with sqlite:// or postgresql://")
        if self.tls_client_ca_file is not None and self.tls_cert_file is None:
            raise SettingsError("--tls-client-ca-file needs --tls-cert-file (mutual TLS is TLS)")

    @property
    def embedded_core(self) -> bool:
        """No core URL given: the service runs the project's core in-process."""
        return not self.core_url.strip()

    def domain_config(self) -> DomainConfig:
        """The domain configuration (for the embedded core, of the settings that name it:
        ``server.using_embedded_core``)."""
        try:
            return DomainConfig(
                api_domain=self.api_domain,
                api_base_path=self.api_base_path,
                core=CoreClientConfig(
                    connection_uri=self.core_url,
                    api_key=self.core_api_key,
                    timeout_seconds=self.core_timeout_seconds,
                    max_connections=self.core_max_connections,
                    ca_file=self.core_ca_file,
                    client_cert_file=self.core_client_cert_file,
                    client_key_file=self.core_client_key_file,
                ),
                key_cache=KeyCacheConfig(
                    max_age_seconds=self.jwks_max_age_seconds,
                    refetch_cooldown_seconds=self.jwks_refetch_cooldown_seconds,
                    max_stale_seconds=self.jwks_max_stale_seconds,
                ),
                token_cache=TokenCacheConfig(
                    enabled=self.token_cache,
                    max_entries=self.token_cache_size,
                    max_rejected=self.token_cache_rejected_size,
                ),
                anti_csrf=self.anti_csrf,
                use_dynamic_access_token_signing_key=self.use_dynamic_access_token_signing_key,
                required_claim_validators=self.required_claim_validators,
                max_access_token_bytes=self.max_access_token_bytes,
                revoke_session_on_token_theft=self.revoke_session_on_token_theft,
            )
        except InvalidArgument as exc:
            raise SettingsError(f"--{_flag(_setting_of(exc.field))}: {exc.message}") from None


def _flag(name: str) -> str:
    return name.replace("_", "-")


# DomainConfig field (as InvalidArgument names it) -> the setting it comes from, where the
# names differ; a nested field (``required_claim_validators[0].key``) maps by its prefix.
_DOMAIN_FIELD_SETTINGS = {
    "core.connection_uri": "core_url",
    "core.api_key": "core_api_key",
    "core.timeout_seconds": "core_timeout_seconds",
    "core.max_connections": "core_max_connections",
    "core.ca_file": "core_ca_file",
    "core.client_cert_file": "core_client_cert_file",
    "key_cache.max_age_seconds": "jwks_max_age_seconds",
    "key_cache.refetch_cooldown_seconds": "jwks_refetch_cooldown_seconds",
    "key_cache.max_stale_seconds": "jwks_max_stale_seconds",
    "token_cache.max_entries": "token_cache_size",
    "token_cache.max_rejected": "token_cache_rejected_size",
}


def _setting_of(domain_field: str) -> str:
    if domain_field in _DOMAIN_FIELD_SETTINGS:
        return _DOMAIN_FIELD_SETTINGS[domain_field]
    head = re.split(r"[.\[]", domain_field, maxsplit=1)[0]
    return head if head in SETTING_NAMES else domain_field


# -- parsing raw strings (flags and environment) -----------------------------------------------


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError("must be true or false")


def _parse_optional_int(text: str) -> int | None:
    return None if text.strip() in ("", "none") else int(text)


def _parse_float(text: str) -> float:
    """A finite number: NaN would pass every range check (each comparison is false), and
    no duration or size is infinite."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("not a finite number")
    return value


def _parse_optional_float(text: str) -> float | None:
    return None if text.strip() in ("", "none") else _parse_float(text)


def _parse_claim_validators(text: str) -> tuple[ClaimValidatorSpec, ...]:
    return claim_validators_from_json(text, "required_claim_validators")


def _parse_log_level(text: str) -> str:
    return text.strip().lower()


def _parse_path(text: str) -> Path:
    return Path(text.strip())


_PARSERS: dict[str, Callable[[str], Any]] = {
    "host": str.strip,
    "port": int,
    "core_url": str.strip,
    "core_api_key": str.strip,
    "core_timeout_seconds": _parse_float,
    "core_max_connections": int,
    "core_ca_file": _parse_path,
    "core_client_cert_file": _parse_path,
    "core_client_key_file": _parse_path,
    "data_dir": Path,
    "core_database": str.strip,
    "api_domain": str.strip,
    "api_base_path": str.strip,
    "anti_csrf": parse_anti_csrf_mode,
    "use_dynamic_access_token_signing_key": _parse_bool,
    "required_claim_validators": _parse_claim_validators,
    "jwks_max_age_seconds": _parse_float,
    "jwks_refetch_cooldown_seconds": _parse_float,
    "jwks_max_stale_seconds": _parse_float,
    "max_access_token_bytes": int,
    "revoke_session_on_token_theft": _parse_bool,
    "token_cache": _parse_bool,
    "token_cache_size": int,
    "token_cache_rejected_size": int,
    "workers": int,
    "max_receive_message_bytes": int,
    "max_concurrent_rpcs": _parse_optional_int,
    "reflection": _parse_bool,
    "api_keys_file": _parse_path,
    "tls_cert_file": _parse_path,
    "tls_key_file": _parse_path,
    "tls_client_ca_file": _parse_path,
    "grace_period_seconds": _parse_float,
    "health_check_interval_seconds": _parse_float,
    "log_level": _parse_log_level,
    "log_format": _parse_log_level,
    "max_connection_age_seconds": _parse_optional_float,
    "metrics_host": str.strip,
    "metrics_port": _parse_optional_int,
    "tracing": _parse_log_level,
    "override_module": lambda text: text.strip() or None,
    "claims_module": lambda text: text.strip() or None,
}
SETTING_NAMES = tuple(f.name for f in fields(Settings))
assert set(SETTING_NAMES) == set(_PARSERS), "every setting needs a parser"
# Settings that turn a protection on. Given empty or blank (a flag, or a variable set to an
# unset secret's empty substitution), they are an error, never a silent "off".
SECURITY_SETTINGS = frozenset(
    {
        "api_keys_file",
        "tls_cert_file",
        "tls_key_file",
        "tls_client_ca_file",
        "core_api_key",
        "core_ca_file",
        "core_client_cert_file",
        "core_client_key_file",
    }
)


def _parse(name: str, text: str, source: str) -> Any:
    if name in SECURITY_SETTINGS and not text.strip():
        raise SettingsError(
            f"{source} is empty: a security setting needs a value, or must be left unset"
        )
    try:
        return _PARSERS[name](text)
    except InvalidArgument as exc:
        raise SettingsError(f"{source}: {exc.message}") from None
    except ValueError:
        raise SettingsError(f"{source}: invalid value {text!r}") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One ``--flag`` per setting. Defaults are None so that unset flags fall through to
    the environment and then to the dataclass default."""
    for f in fields(Settings):
        env = ENV_PREFIX + f.name.upper()
        parser.add_argument(
            f"--{_flag(f.name)}",
            dest=f.name,
            default=None,
            metavar=f.name.upper(),
            help=f"{f.metadata.get('help', '')} (env {env}; default {_describe_default(f)})",
        )


def _describe_default(f: Any) -> str:
    value = f.default
    if isinstance(value, AntiCsrfMode):
        return value.value
    if value in ((), None, ""):
        return "unset"
    return str(value)


def unknown_service_variables(env: Mapping[str, str]) -> list[str]:
    """A warning for each ``SESSION_SERVICE_*`` variable that names no setting."""
    return unknown_variables(env, ENV_PREFIX, SETTING_NAMES)


def load_settings(
    flags: Mapping[str, str | None] | None = None, env: Mapping[str, str] | None = None
) -> Settings:
    """Merge raw flag values (argparse's namespace as a dict) over the environment."""
    environment = os.environ if env is None else env
    values: dict[str, Any] = {}
    for name in SETTING_NAMES:
        env_name = ENV_PREFIX + name.upper()
        env_value = environment.get(env_name)
        if env_value is not None and (env_value != "" or name in SECURITY_SETTINGS):
            values[name] = _parse(name, env_value, env_name)
    for name, text in (flags or {}).items():
        if text is not None and name in _PARSERS:
            values[name] = _parse(name, text, f"--{_flag(name)}")
    return Settings(**values)
