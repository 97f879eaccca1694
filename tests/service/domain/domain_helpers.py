"""Helpers shared by the domain tests (forging tokens, finding a closed port, ...)."""

from __future__ import annotations

import base64
import json
import socket
from collections.abc import Awaitable, Callable
from typing import Any

from session_core.app import RunningCore
from session_core.crypto import SigningKey
from session_service.domain.api import (
    CoreClientConfig,
    DomainConfig,
    KeyCacheConfig,
    Session,
    SessionRecipe,
    Status,
    TokenCacheStats,
)

API_DOMAIN = "https://api.example.com"
ISSUER = API_DOMAIN + "/auth"

MakeCore = Callable[..., Awaitable[RunningCore]]
MakeManager = Callable[..., Awaitable[SessionRecipe]]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _decode_segment(segment: str) -> dict[str, Any]:
    raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    value: dict[str, Any] = json.loads(raw)
    return value


def decode_header(token: str) -> dict[str, Any]:
    return _decode_segment(token.split(".", maxsplit=1)[0])


def decode_payload(token: str) -> dict[str, Any]:
    return _decode_segment(token.split(".")[1])


def forge(key: SigningKey, header: dict[str, Any], payload: dict[str, Any]) -> str:
    """A v3-style JWT signed with one of the core's own keys (so only what the test
    changed can make it fail)."""
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(payload).encode())}"
    return f"{signing_input}.{b64url(key.sign(signing_input.encode()))}"


def v3_header(kid: str) -> dict[str, Any]:
    return {"alg": "RS256", "typ": "JWT", "version": "3", "kid": kid}


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def core_calls(core: RunningCore, path: str) -> int:
    return core.requests[path]


def domain_config(connection_uri: str, **overrides: Any) -> DomainConfig:
    """A DomainConfig for tests; ``key_cache``/``core`` accept dicts of overrides."""
    key_cache = KeyCacheConfig(**overrides.pop("key_cache", {}))
    core = CoreClientConfig(connection_uri=connection_uri, **overrides.pop("core", {}))
    return DomainConfig(api_domain=API_DOMAIN, core=core, key_cache=key_cache, **overrides)


def stats(manager: SessionRecipe) -> TokenCacheStats:
    current = manager.token_cache_stats()
    assert current is not None
    return current


async def token_for(
    manager: SessionRecipe, user_id: str, payload: dict[str, Any] | None = None
) -> str:
    created = await manager.create_new_session(user_id, payload or {})
    assert created.session is not None
    return created.session.access_token


async def created_session(manager: SessionRecipe, user_id: str = "user-1", **kw: object) -> Session:
    result = await manager.create_new_session(user_id, **kw)  # type: ignore[arg-type]
    assert result.status is Status.OK and result.session is not None
    return result.session
