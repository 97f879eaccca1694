"""``SessionClient``: one typed async method per ``session.v1.SessionService`` RPC.

Outcomes come back as results with a ``SessionStatus``; failures (INVALID_ARGUMENT,
UNAVAILABLE, ...) raise ``grpc.aio.AioRpcError`` (a ``grpc.RpcError``) unchanged. The methods
are the functions of ``session_client._calls``, run over an asyncio channel.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, TypeVar

import grpc

from session_client import _calls
from session_client._calls import Call
from session_client._pb.session.v1 import session_service_pb2_grpc as pb_grpc

P = ParamSpec("P")
T = TypeVar("T")


def _rpc(
    build: Callable[P, Call[T]],
) -> Callable[Concatenate[SessionClient, P], Coroutine[Any, Any, T]]:
    async def method(self: SessionClient, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return await self._invoke(build(*args, **kwargs))

    method.__name__ = method.__qualname__ = build.__name__
    method.__doc__ = build.__doc__
    method.__signature__ = _calls.method_signature(build)  # type: ignore[attr-defined]
    return method


def channel_credentials(
    root_certificates: bytes | None,
    private_key: bytes | None,
    certificate_chain: bytes | None,
) -> grpc.ChannelCredentials:
    return grpc.ssl_channel_credentials(
        root_certificates=root_certificates,
        private_key=private_key,
        certificate_chain=certificate_chain,
    )


class SessionClient:
    """A client over one asyncio channel. ``timeout`` (seconds) is the deadline of every
    call; the service passes what is left of it on to the session core. ``api_key`` is sent
    as ``x-api-key`` metadata when the service requires caller authentication."""

    def __init__(
        self,
        channel: grpc.aio.Channel,
        *,
        timeout: float | None = 10.0,
        api_key: str | None = None,
    ) -> None:
        self._channel = channel
        self._stub: Any = pb_grpc.SessionServiceStub(channel)  # type: ignore[no-untyped-call]
        self._timeout = timeout
        self._metadata = (("x-api-key", api_key),) if api_key is not None else None

    @classmethod
    def insecure(
        cls, target: str, *, timeout: float | None = 10.0, api_key: str | None = None
    ) -> SessionClient:
        """A client with its own plaintext channel to ``target`` (``host:port``)."""
        return cls(grpc.aio.insecure_channel(target), timeout=timeout, api_key=api_key)

    @classmethod
    def secure(
        cls,
        target: str,
        *,
        root_certificates: bytes | None = None,
        private_key: bytes | None = None,
        certificate_chain: bytes | None = None,
        timeout: float | None = 10.0,
        api_key: str | None = None,
    ) -> SessionClient:
        """A client over TLS: ``root_certificates`` (PEM) to trust the service (default:
        the system CAs); ``private_key`` and ``certificate_chain`` for mutual TLS."""
        credentials = channel_credentials(root_certificates, private_key, certificate_chain)
        return cls(grpc.aio.secure_channel(target, credentials), timeout=timeout, api_key=api_key)

    async def wait_until_connected(self) -> None:
        """Wait until the channel is connected; bound it with ``asyncio.timeout``."""
        await self._channel.channel_ready()

    async def close(self) -> None:
        await self._channel.close()

    async def __aenter__(self) -> SessionClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def _invoke(self, call: Call[T]) -> T:
        method = getattr(self._stub, call.method)
        return call.parse(
            await method(call.request, timeout=self._timeout, metadata=self._metadata)
        )

    create_session = _rpc(_calls.create_session)
    get_session = _rpc(_calls.get_session)
    refresh_session = _rpc(_calls.refresh_session)
    revoke_session = _rpc(_calls.revoke_session)
    revoke_all_sessions_for_user = _rpc(_calls.revoke_all_sessions_for_user)
    revoke_multiple_sessions = _rpc(_calls.revoke_multiple_sessions)
    get_all_session_handles_for_user = _rpc(_calls.get_all_session_handles_for_user)
    get_session_information = _rpc(_calls.get_session_information)
    update_session_data_in_database = _rpc(_calls.update_session_data_in_database)
    merge_into_access_token_payload = _rpc(_calls.merge_into_access_token_payload)
    regenerate_access_token = _rpc(_calls.regenerate_access_token)
    set_claim_value = _rpc(_calls.set_claim_value)
    get_claim_value = _rpc(_calls.get_claim_value)
    remove_claim = _rpc(_calls.remove_claim)
    validate_claims_for_session_handle = _rpc(_calls.validate_claims_for_session_handle)
    fetch_and_set_claim = _rpc(_calls.fetch_and_set_claim)
    validate_claims_in_jwt_payload = _rpc(_calls.validate_claims_in_jwt_payload)
    get_jwks = _rpc(_calls.get_jwks)
    create_jwt = _rpc(_calls.create_jwt)
    get_open_id_discovery_configuration = _rpc(_calls.get_open_id_discovery_configuration)
