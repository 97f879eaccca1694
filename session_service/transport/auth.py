"""Caller authentication for the gRPC port: API keys with scopes, checked by an interceptor.

Callers send ``x-api-key: <key>`` as request metadata. The keys live in a file, one
``<key> <scope>`` per line (``#`` comments, blank lines ignored), re-read when it changes
(and on SIGHUP), so keys rotate without a restart: add the new key, move the callers over,
delete the old one.

Scopes:

* ``verify``: GetSession, GetJWKS, GetOpenIdDiscoveryConfiguration, Envoy's
  ``envoy.service.auth.v3.Authorization/Check`` (and reflection). What a service or proxy
  that only checks who is logged in needs; it cannot create, refresh or revoke.
* ``full``: every RPC.

Missing or unknown key -> UNAUTHENTICATED; known key without the scope -> PERMISSION_DENIED.
``grpc.health.v1.Health`` is always open so that probes need no secret. Presented keys are
hashed and compared with every configured key in constant time; neither a key nor a part of
one is ever logged or put in an error message.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import grpc

logger = logging.getLogger("session_service.auth")

API_KEY_METADATA = "x-api-key"
SESSION_SERVICE = "session.v1.SessionService"
HEALTH_SERVICE = "grpc.health.v1.Health"
# Methods a verify-only key may call (everything else of SessionService needs ``full``).
VERIFY_METHODS = frozenset({"GetSession", "GetJWKS", "GetOpenIdDiscoveryConfiguration"})
MIN_KEY_LENGTH = 20
_KEY_RE = re.compile(r"[\x21-\x7e]+")  # printable ASCII, no spaces (metadata-safe)
# Longer presented values are refused before hashing (gRPC caps metadata at 8 KiB anyway).
_MAX_PRESENTED_LENGTH = 1024


class Scope(StrEnum):
    VERIFY = "verify"
    FULL = "full"


class ApiKeysError(ValueError):
    """The key file cannot be used; the message names the line, never a key."""


@dataclass(frozen=True, slots=True)
class _Entry:
    digest: bytes
    scope: Scope


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()


def parse_api_keys(text: str) -> tuple[_Entry, ...]:
    """Parse a key file. Raises ``ApiKeysError`` naming the offending line number."""
    entries: list[_Entry] = []
    seen: set[bytes] = set()
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 2:
            raise ApiKeysError(f"line {number}: expected '<key> <scope>'")
        key, scope_text = parts
        if len(key) < MIN_KEY_LENGTH or not _KEY_RE.fullmatch(key):
            raise ApiKeysError(
                f"line {number}: a key needs at least {MIN_KEY_LENGTH} printable ASCII "
                "characters without spaces"
            )
        try:
            scope = Scope(scope_text.lower())
        except ValueError:
            raise ApiKeysError(
                f"line {number}: scope must be {' or '.join(s.value for s in Scope)}"
            ) from None
        digest = _digest(key)
        if digest in seen:
            raise ApiKeysError(f"line {number}: the same key is listed twice")
        seen.add(digest)
        entries.append(_Entry(digest, scope))
    if not entries:
        raise ApiKeysError("the file lists no key (an empty list would lock every caller out)")
    return tuple(entries)


class ApiKeyStore:
    """The current keys from ``path``; ``reload_if_changed`` swaps them atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._text = self._read()
        self._entries = parse_api_keys(self._text)
        self.generation = 0  # successful reloads (tests wait on it)
        self._changed = asyncio.Condition()

    def _read(self) -> str:
        try:
            return self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ApiKeysError(f"cannot read {self.path}: {type(exc).__name__}") from None

    @property
    def key_count(self) -> int:
        return len(self._entries)

    def scope_of(self, presented: str) -> Scope | None:
        """The scope of ``presented``, or None. Every configured key is compared (in
        constant time) whatever matches, so timing tells nothing about the keys."""
        digest = _digest(presented)
        found: Scope | None = None
        for entry in self._entries:
            if hmac.compare_digest(entry.digest, digest):
                found = entry.scope
        return found

    async def reload_if_changed(self) -> bool:
        """Re-read the file; adopt it if it changed and is valid. An unreadable or invalid
        file is logged and the current keys stay in force (a half-written file during a
        rotation must not lock every caller out)."""
        try:
            text = self._read()
            if text == self._text:
                return False
            entries = parse_api_keys(text)
        except ApiKeysError as exc:
            logger.error("API key file not reloaded, keeping the current keys: %s", exc)
            return False
        self._text, self._entries = text, entries
        async with self._changed:
            self.generation += 1
            self._changed.notify_all()
        logger.info("API keys reloaded: %d key(s)", len(entries))
        return True

    async def wait_for_generation(self, generation: int) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: self.generation >= generation)

    async def watch(self, interval: float) -> None:
        """Reload whenever the file changes (checked every ``interval`` seconds)."""
        while True:
            await asyncio.sleep(interval)
            await self.reload_if_changed()


def _allowed(scope: Scope, service: str, method: str) -> bool:
    if scope is Scope.FULL:
        return True
    return service != SESSION_SERVICE or method in VERIFY_METHODS


def _denial(handler: grpc.RpcMethodHandler, code: grpc.StatusCode, details: str) -> Any:
    """A handler of the same streaming shape as ``handler`` that only answers ``code``."""

    async def deny(_request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        await context.abort(code, details)

    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(deny)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(deny)
    if handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(deny)
    return grpc.unary_unary_rpc_method_handler(deny)


Continuation = Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler | None]]


class ApiKeyInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Checks ``x-api-key`` on every RPC except health. Counts denials (never logs keys)."""

    def __init__(self, store: ApiKeyStore) -> None:
        self.store = store
        self.unauthenticated = 0
        self.permission_denied = 0

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        handler = await continuation(handler_call_details)
        service, _, method = handler_call_details.method.lstrip("/").rpartition("/")
        if handler is None or service == HEALTH_SERVICE:
            return handler
        presented = _presented_key(handler_call_details.invocation_metadata)
        scope = self.store.scope_of(presented) if presented is not None else None
        if scope is None:
            self.unauthenticated += 1
            return _denial(
                handler,
                grpc.StatusCode.UNAUTHENTICATED,
                f"missing or unknown API key (send it as '{API_KEY_METADATA}' metadata)",
            )
        if not _allowed(scope, service, method):
            self.permission_denied += 1
            return _denial(
                handler,
                grpc.StatusCode.PERMISSION_DENIED,
                f"this API key's scope ({scope.value}) does not allow {method}",
            )
        return handler


def _presented_key(metadata: Any) -> str | None:
    for item in metadata or ():
        key, value = item
        if key == API_KEY_METADATA:
            if not isinstance(value, str) or len(value) > _MAX_PRESENTED_LENGTH:
                return None
            return value
    return None


def server_credentials(
    cert_file: Path, key_file: Path, client_ca_file: Path | None
) -> grpc.ServerCredentials:
    """TLS for the gRPC port; with ``client_ca_file`` every client must present a
    certificate signed by that CA (mutual TLS). Raises ``OSError`` naming the file when
    one cannot be read (never its content: the key file holds a private key)."""

    def read(path: Path) -> bytes:
        try:
            return path.read_bytes()
        except OSError as exc:
            raise OSError(f"cannot read {path}: {exc.strerror or type(exc).__name__}") from None

    return grpc.ssl_server_credentials(
        [(read(key_file), read(cert_file))],
        root_certificates=read(client_ca_file) if client_ca_file is not None else None,
        require_client_auth=client_ca_file is not None,
    )
