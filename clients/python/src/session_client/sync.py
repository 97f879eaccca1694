"""``SyncSessionClient``: the blocking twin of ``SessionClient`` for threaded code (WSGI
apps, scripts). The same methods and results, over grpc's synchronous channel, which is
safe to share between threads; failures raise ``grpc.RpcError``.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, TypeVar

import grpc

from session_client import _calls
from session_client._calls import Call
from session_client._pb.session.v1 import session_service_pb2_grpc as pb_grpc
from session_client.client import channel_credentials

P = ParamSpec("P")
T = TypeVar("T")


def _rpc(build: Callable[P, Call[T]]) -> Callable[Concatenate[SyncSessionClient, P], T]:
    def method(self: SyncSessionClient, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return self._invoke(build(*args, **kwargs))

    method.__name__ = method.__qualname__ = build.__name__
    method.__doc__ = build.__doc__
    method.__signature__ = _calls.method_signature(build)  # type: ignore[attr-defined]
    return method


class SyncSessionClient:
    """A blocking client over one channel; ``timeout`` and ``api_key`` as for
    ``SessionClient``."""

    def __init__(
        self,
        channel: grpc.Channel,
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
    ) -> SyncSessionClient:
        """A client with its own plaintext channel to ``target`` (``host:port``)."""
        return cls(grpc.insecure_channel(target), timeout=timeout, api_key=api_key)

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
    ) -> SyncSessionClient:
        """A client over TLS (see ``SessionClient.secure``)."""
        credentials = channel_credentials(root_certificates, private_key, certificate_chain)
        return cls(grpc.secure_channel(target, credentials), timeout=timeout, api_key=api_key)

    def wait_until_connected(self, timeout: float | None = None) -> None:
        """Wait until the channel is connected (raises ``TimeoutError`` after ``timeout``)."""
        try:
            grpc.channel_ready_future(self._channel).result(timeout=timeout)
        except grpc.FutureTimeoutError:
            raise TimeoutError("the channel did not connect in time") from None

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> SyncSessionClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _invoke(self, call: Call[T]) -> T:
        method = getattr(self._stub, call.method)
        return call.parse(method(call.request, timeout=self._timeout, metadata=self._metadata))

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
