"""The service's settings: command-line flags > ``SESSION_SERVICE_*`` environment >
defaults, read by ``session_common.config_loading``.

Every setting has one name used three ways: the dataclass field, the flag
(``--core-url``) and the environment variable (``SESSION_SERVICE_CORE_URL``). Invalid values
raise ``SettingsError`` naming the flag or the variable, so the CLI can print it and exit
with status 2.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from session_common.config_loading import (
    ConfigError,
    Declaration,
    Parser,
    Source,
    as_lowercase,
    as_str,
    flag_of,
    setting,
)
from session_common.logs import LOG_FORMATS, LOG_LEVELS
from session_common.tracing import TRACING_EXPORTERS
from session_service.core_settings import CoreSettings
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
from session_service.domain.http_types import HttpConfig
from session_service.gateway_settings import GATEWAY_PARSERS, GatewaySettings
from session_service.revocation_settings import RevocationSettings

ENV_PREFIX = "SESSION_SERVICE_"
# What a GetSession request holds besides the access token (anti-CSRF token, flags, claim
# validators), kept free under --max-receive-message-bytes.
_REQUEST_ROOM = 1024


class SettingsError(ConfigError):
    """A setting of the service has an invalid value; the message names its flag or
    variable."""


class ListenError(OSError):
    """A configured port cannot be bound (in use, or not an address of this host); the
    message names it. Like a ``SettingsError``, the CLI reports it in one line, status 2."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings(GatewaySettings, RevocationSettings, CoreSettings):
    """Everything ``start_service`` needs, with each setting's ``--help`` text."""

    host: str = setting("127.0.0.1", "address to listen on")
    port: int = setting(50051, "port to listen on; 0 picks a free one")
    api_domain: str = setting(
        "http://localhost:3001", "the SDK appInfo api_domain; with --api-base-path it makes iss"
    )
    api_base_path: str = setting("/auth", "the SDK api_base_path")
    # None (unset) becomes the SDK's default in __post_init__: always a mode afterwards.
    anti_csrf: AntiCsrfMode = setting(
        None,
        "NONE, VIA_TOKEN or VIA_CUSTOM_HEADER",
        default_help="VIA_CUSTOM_HEADER with --cookie-same-site none, else NONE (the SDK's)",
    )
    use_dynamic_access_token_signing_key: bool = setting(
        True, "sign new sessions with the rotating key (false: the static key)"
    )
    required_claim_validators: tuple[ClaimValidatorSpec, ...] = setting(
        (),
        "server-wide claim validators every GetSession applies, as a JSON list of "
        'session.v1.ClaimValidator, e.g. [{"has_value": {"key": "st-ev", "value": true}}]',
    )
    jwks_max_age_seconds: float = setting(60.0, "signing-key cache freshness without Cache-Control")
    jwks_refetch_cooldown_seconds: float = setting(0.5, "minimum gap between unknown-kid refetches")
    jwks_max_stale_seconds: float = setting(
        3600.0, "how long past freshness the last good keys serve if the core is down"
    )
    max_access_token_bytes: int = setting(
        DEFAULT_MAX_ACCESS_TOKEN_BYTES,
        "longest access token accepted and issued: GetSession refuses longer ones, writes "
        "that would make a session's tokens longer are INVALID_ARGUMENT (cookies: a browser "
        "keeps about 4096 bytes, so 4000 there)",
    )
    revoke_session_on_token_theft: bool = setting(
        True,
        "RefreshSession revokes a session in which it detects token theft, as the SDK's "
        "default theft handler does (false: the caller revokes it)",
    )
    token_cache: bool = setting(
        True, "remember verified access tokens (by SHA-256) so repeats skip the check"
    )
    token_cache_size: int = setting(
        100_000, "verified tokens remembered (a few hundred bytes each)"
    )
    token_cache_rejected_size: int = setting(
        10_000, "invalid tokens remembered, apart from the verified ones"
    )
    workers: int = setting(
        1,
        "serving processes sharing the port (SO_REUSEPORT; the kernel balances connections, "
        "not RPCs)",
    )
    max_receive_message_bytes: int = setting(
        64 * 1024, "largest request accepted (RESOURCE_EXHAUSTED above)"
    )
    max_concurrent_rpcs: int | None = setting(
        None, "RPCs served at once before RESOURCE_EXHAUSTED; unset: no cap"
    )
    reflection: bool = setting(True, "serve gRPC server reflection")
    api_keys_file: Path | None = setting(
        None,
        "file of '<key> <scope>' lines (scope verify or full); callers must send 'x-api-key' "
        "metadata; re-read on change and SIGHUP; unset: no caller auth",
    )
    tls_cert_file: Path | None = setting(None, "PEM certificate chain: serve gRPC over TLS")
    tls_key_file: Path | None = setting(None, "PEM private key of --tls-cert-file")
    tls_client_ca_file: Path | None = setting(
        None, "PEM CA: require client certificates signed by it (mutual TLS)"
    )
    grace_period_seconds: float = setting(
        10.0, "how long in-flight RPCs may take to finish on shutdown"
    )
    health_check_interval_seconds: float = setting(2.0, "how often readiness re-checks the core")
    log_level: str = setting("info", "debug, info, warning or error")
    log_format: str = setting("auto", "json, text, or auto (text on a terminal, json otherwise)")
    max_connection_age_seconds: float | None = setting(
        None,
        "close each client connection after this long (clients reconnect, so new replicas get"
        " traffic behind connection-level load balancing); unset: never",
    )
    metrics_host: str = setting("127.0.0.1", "address of the Prometheus /metrics endpoint")
    metrics_port: int | None = setting(
        None, "HTTP port serving Prometheus /metrics; 0 picks a free one; unset: off"
    )
    tracing: str = setting(
        "off",
        "OpenTelemetry traces: off, otlp (configured by the OTEL_EXPORTER_OTLP_* variables) "
        "or console",
    )
    override_module: str | None = setting(
        None,
        "Python module (or module:function) whose override(original) returns the recipe "
        "functions to use (docs/operations.md)",
    )
    claims_module: str | None = setting(
        None,
        "Python module (or module:attribute) whose 'claims' list defines the session claims "
        "the service fetches (docs/claims.md)",
    )

    def __post_init__(self) -> None:
        if self.anti_csrf is None:
            # supertokens-python's session.init: SameSite=None cookies ride along on
            # cross-site requests, so the default then checks the rid header.
            same_site_none = self.cookie_same_site.strip().lower() == "none"
            mode = AntiCsrfMode.VIA_CUSTOM_HEADER if same_site_none else AntiCsrfMode.NONE
            object.__setattr__(self, "anti_csrf", mode)
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
                raise SettingsError(f"{flag_of(name)} must not be negative")
        if self.core_max_connections < 1:
            raise SettingsError("--core-max-connections must be at least 1")
        if not 1 <= self.workers <= 256:
            raise SettingsError(f"--workers must be between 1 and 256 (got {self.workers})")
        for name in ("grace_period_seconds", "core_timeout_seconds"):
            if getattr(self, name) < 0:
                raise SettingsError(f"{flag_of(name)} must not be negative")
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
        self._check_ports_apart()
        for cert, key in (
            ("tls_cert_file", "tls_key_file"),
            ("core_client_cert_file", "core_client_key_file"),
        ):
            if (getattr(self, cert) is None) != (getattr(self, key) is None):
                raise SettingsError(f"{flag_of(cert)} and {flag_of(key)} go together")
        self.check_core_settings(SettingsError)
        if self.tls_client_ca_file is not None and self.tls_cert_file is None:
            raise SettingsError("--tls-client-ca-file needs --tls-cert-file (mutual TLS is TLS)")
        self.http_config()

    def _check_ports_apart(self) -> None:
        """Two of the process's listeners on one port of one address: the second could
        never bind, so say which settings collide rather than "address already in use"."""
        listeners = (
            ("port", self.host, self.port),
            ("http_port", self.http_host or self.host, self.http_port),
            ("metrics_port", self.metrics_host, self.metrics_port),
        )
        for i, (name, host, port) in enumerate(listeners):
            for other, other_host, other_port in listeners[i + 1 :]:
                if not port or port != other_port:  # unset or 0 (a free port) never collide
                    continue
                if host == other_host or _every_interface(host) or _every_interface(other_host):
                    raise SettingsError(
                        f"{flag_of(other)} must differ from {flag_of(name)} (both {port})"
                    )

    def http_config(self) -> HttpConfig:
        """The HTTP decision's configuration (``gateway_settings``)."""
        return self.gateway_config(
            self.anti_csrf, self.api_domain, self.api_base_path, SettingsError
        )

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
                    client_certificate=self.core_client_certificate(),
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
            raise SettingsError(f"{flag_of(_setting_of(exc.field))}: {exc.message}") from None


# DomainConfig field (as InvalidArgument names it) -> the setting it comes from, where the
# names differ; a nested field (``required_claim_validators[0].key``) maps by its prefix.
_DOMAIN_FIELD_SETTINGS = {
    "core.connection_uri": "core_url",
    "core.api_key": "core_api_key",
    "core.timeout_seconds": "core_timeout_seconds",
    "core.max_connections": "core_max_connections",
    "core.ca_file": "core_ca_file",
    "core.client_certificate": "core_client_cert_file",
    "key_cache.max_age_seconds": "jwks_max_age_seconds",
    "key_cache.refetch_cooldown_seconds": "jwks_refetch_cooldown_seconds",
    "key_cache.max_stale_seconds": "jwks_max_stale_seconds",
    "token_cache.max_entries": "token_cache_size",
    "token_cache.max_rejected": "token_cache_rejected_size",
}


def _every_interface(host: str) -> bool:
    """An address that listens on every interface (0.0.0.0, ::), colliding with any."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_unspecified
    except ValueError:
        return False


def _setting_of(domain_field: str) -> str:
    if domain_field in _DOMAIN_FIELD_SETTINGS:
        return _DOMAIN_FIELD_SETTINGS[domain_field]
    head = re.split(r"[.\[]", domain_field, maxsplit=1)[0]
    return head if head in SETTING_NAMES else domain_field


# -- reading the sources ------------------------------------------------------------------------


def _domain_parser(parse: Callable[[str], Any]) -> Parser:
    """A domain parser of text as a setting's parser: its ``InvalidArgument`` says what is
    wrong with the value."""

    def parse_setting(value: object) -> Any:
        try:
            return parse(as_str(value))
        except InvalidArgument as exc:
            raise ValueError(exc.message) from None

    return parse_setting


def _name_in_messages(name: str, source: Source) -> str:
    return flag_of(name) if source is Source.FLAG else DECLARATION.variable(name)


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
DECLARATION = Declaration(
    Settings,
    env_prefix=ENV_PREFIX,
    error=SettingsError,
    name_in_messages=_name_in_messages,
    parsers={
        "anti_csrf": _domain_parser(parse_anti_csrf_mode),
        "required_claim_validators": _domain_parser(
            lambda text: claim_validators_from_json(text, "required_claim_validators")
        ),
        "log_level": as_lowercase,
        "log_format": as_lowercase,
        "tracing": as_lowercase,
        **GATEWAY_PARSERS,
    },
    required_when_given=SECURITY_SETTINGS,
)
SETTING_NAMES = DECLARATION.names


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One ``--flag`` per setting (``--help`` shows its variable and default)."""
    DECLARATION.add_arguments(parser)


def unknown_service_variables(env: Mapping[str, str]) -> list[str]:
    """A warning for each ``SESSION_SERVICE_*`` variable that names no setting."""
    return DECLARATION.unknown_variables(env)


def load_settings(
    flags: Mapping[str, str | None] | None = None, env: Mapping[str, str] | None = None
) -> Settings:
    """The settings from raw flag values (None: not given) over the environment."""
    return DECLARATION.load(flags=flags, env=os.environ if env is None else env)
