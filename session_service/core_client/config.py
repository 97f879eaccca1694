"""How the service reaches its core(s): the URL list, time limits, connection pool and TLS.

Invalid values raise ``InvalidArgument`` naming the field, at configuration time.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlsplit

from session_service.domain.errors import InvalidArgument

# The Core Driver Interface versions this service speaks (checked against the core's
# /apiversion before the first call).
SUPPORTED_CDI_VERSIONS = ("2.21",)


def parse_connection_uri(connection_uri: str) -> tuple[str, ...]:
    """Split the SDK-style ``;``-separated core URL list, dropping empty entries."""
    urls = tuple(u.strip().rstrip("/") for u in connection_uri.split(";") if u.strip())
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise InvalidArgument("core.connection_uri", "every entry must be an http(s) URL")
        if parts.query or parts.fragment:
            raise InvalidArgument("core.connection_uri", "a core URL must not have a query")
    if not urls:
        raise InvalidArgument("core.connection_uri", "at least one core URL is required")
    return urls


def require_positive(name: str, value: float) -> None:
    if not value > 0:
        raise InvalidArgument(name, "must be positive")


class ClientCertificate(NamedTuple):
    """A PEM certificate (chain) and its private key: one cannot be given without the
    other."""

    cert_file: Path
    key_file: Path


@dataclass(frozen=True, slots=True, kw_only=True)
class CoreClientConfig:
    """How to reach the core(s).

    ``connection_uri`` is ``;``-separated like the SDK's; each URL may carry a base path.
    ``timeout_seconds`` bounds every core call (further bounded by the caller's deadline).
    ``ca_file`` replaces the system CAs for ``https`` cores; ``client_certificate`` gives
    the service a certificate for mutual TLS.
    """

    connection_uri: str = "http://localhost:3567"
    api_key: str | None = field(default=None, repr=False)
    timeout_seconds: float = 5.0
    connect_timeout_seconds: float = 2.0
    max_connections: int = 100
    max_keepalive_connections: int = 20
    keepalive_expiry_seconds: float = 30.0
    ca_file: Path | None = None
    client_certificate: ClientCertificate | None = None

    def __post_init__(self) -> None:
        parse_connection_uri(self.connection_uri)
        require_positive("core.timeout_seconds", self.timeout_seconds)
        require_positive("core.connect_timeout_seconds", self.connect_timeout_seconds)
        require_positive("core.max_connections", self.max_connections)
        require_positive("core.keepalive_expiry_seconds", self.keepalive_expiry_seconds)
        if self.max_keepalive_connections < 0:
            raise InvalidArgument("core.max_keepalive_connections", "must not be negative")
        if self.api_key is not None and not self.api_key.strip():
            raise InvalidArgument("core.api_key", "must not be blank (omit it instead)")
        self.ssl_context()  # unreadable files fail at configuration time, not on first call

    def ssl_context(self) -> ssl.SSLContext:
        """Verification (and client identity) for ``https`` cores."""
        try:
            context = ssl.create_default_context(
                cafile=str(self.ca_file) if self.ca_file is not None else None
            )
        except (OSError, ssl.SSLError) as exc:
            raise InvalidArgument(
                "core.ca_file", f"cannot be loaded ({type(exc).__name__})"
            ) from None
        if self.client_certificate is not None:
            cert_file, key_file = self.client_certificate
            try:
                context.load_cert_chain(str(cert_file), str(key_file))
            except (OSError, ssl.SSLError) as exc:
                raise InvalidArgument(
                    "core.client_certificate", f"cannot be loaded ({type(exc).__name__})"
                ) from None
        return context

    @property
    def urls(self) -> tuple[str, ...]:
        return parse_connection_uri(self.connection_uri)
