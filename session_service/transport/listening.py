"""The gRPC port: checking it is free, binding it (TLS or plaintext), and what it exposes."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import grpc

from session_service.settings import ListenError, Settings
from session_service.transport.auth import server_credentials


def bind(server: grpc.aio.Server, settings: Settings) -> int:
    """Add the configured port to ``server`` (TLS when a certificate is configured); returns
    the bound port. Raises ``ListenError``.

    Workers share a port their parent checked and holds; a single process checks here, so
    a port in use is one line of ours rather than gRPC's log and ours.
    """
    address = f"{settings.host}:{settings.port}"
    if settings.workers == 1 and settings.port:
        check_port_free(settings.host, settings.port)
    try:
        if settings.tls_cert_file is not None and settings.tls_key_file is not None:
            credentials = server_credentials(
                settings.tls_cert_file, settings.tls_key_file, settings.tls_client_ca_file
            )
            port: int = server.add_secure_port(address, credentials)
        else:
            port = server.add_insecure_port(address)
    except RuntimeError as exc:
        raise ListenError(f"cannot listen on {settings.host}:{settings.port}: {exc}") from None
    return port


def check_port_free(host: str, port: int) -> tuple[socket.AddressFamily, Any]:
    """Bind ``host:port`` without ``SO_REUSEPORT`` and release it at once: raises
    ``ListenError`` while anything listens there, even sockets that would let an
    ``SO_REUSEPORT`` bind join them. ``SO_REUSEADDR`` lets connections of an earlier run in
    TIME_WAIT be ignored. Returns the address family and the address bound (with the port
    picked, for port 0)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
            return family, probe.getsockname()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ListenError(f"cannot listen on {host}:{port}: {reason}") from None


def exposure_warning(settings: Settings) -> str | None:
    """What the gRPC port lacks when it is reachable beyond loopback: caller authentication
    (API keys or mutual TLS) and TLS. None on loopback, or with both."""
    if _is_loopback(settings.host):
        return None
    missing = []
    if settings.api_keys_file is None and settings.tls_client_ca_file is None:
        missing.append(
            "without caller authentication (--api-keys-file or --tls-client-ca-file): "
            "anyone who reaches it can create, refresh and revoke sessions"
        )
    if settings.tls_cert_file is None:
        missing.append("without TLS (--tls-cert-file): tokens cross the network in plaintext")
    if not missing:
        return None
    return f"listening beyond loopback on {settings.host}:{settings.port} " + "; ".join(missing)


def _is_loopback(host: str) -> bool:
    try:
        addresses = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return False  # binding will fail and say so
    return all(ipaddress.ip_address(address[4][0]).is_loopback for address in addresses)
