"""The SDK's request layer over the session service: ``HttpSessions`` runs the operations of
``_layer.RequestLayer`` over the asyncio ``SessionClient`` and ``SyncHttpSessions`` over
``SyncSessionClient``; each reads tokens from a request, calls the service, and says what to
write to the response.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal, TypeVar, cast, overload

from session_client._pb.session.v1 import session_service_pb2 as pb
from session_client.client import SessionClient
from session_client.http._layer import Flow, RequestLayer
from session_client.http._transport import HttpRequest, ResponseChanges, TransferMethod
from session_client.http._types import HttpConfig, HttpOk, HttpResult, RequestSession
from session_client.sync import SyncSessionClient
from session_client.types import StatusResult

T = TypeVar("T")


class HttpSessions:
    """The SDK's session functions for an asyncio web framework, over ``SessionClient``.

    Every method returns what to write to the response; apply ``result.response`` in every
    case (``header_items()``), and on ``HttpError`` answer ``http_status`` with ``body``."""

    def __init__(
        self,
        client: SessionClient,
        config: HttpConfig | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._layer = RequestLayer(config or HttpConfig(), clock)

    @property
    def config(self) -> HttpConfig:
        return self._layer.config

    async def _run(self, flow: Flow[T]) -> T:
        reply: Any = None
        while True:
            try:
                call = flow.send(reply)
            except StopIteration as done:
                return cast(T, done.value)
            reply = await self._client._invoke(call)

    async def create_new_session(
        self,
        request: HttpRequest,
        user_id: str,
        access_token_payload: Mapping[str, Any] | None = None,
        session_data_in_database: Mapping[str, Any] | None = None,
    ) -> HttpOk[RequestSession]:
        """Sign-in: a new session, its tokens sent the way ``st-auth-mode`` asks (default:
        headers). Raises ``ValueError`` for cookie mode with an insecure SameSite=None."""
        flow = self._layer.create(request, user_id, access_token_payload, session_data_in_database)
        return await self._run(flow)

    @overload
    async def get_session(
        self,
        request: HttpRequest,
        *,
        session_required: Literal[True] = True,
        anti_csrf_check: bool | None = None,
        check_database: bool = False,
        claim_validators: Iterable[pb.ClaimValidator] = (),
        override_global_claim_validators: bool = False,
    ) -> HttpResult[RequestSession]: ...

    @overload
    async def get_session(
        self,
        request: HttpRequest,
        *,
        session_required: bool,
        anti_csrf_check: bool | None = None,
        check_database: bool = False,
        claim_validators: Iterable[pb.ClaimValidator] = (),
        override_global_claim_validators: bool = False,
    ) -> HttpResult[RequestSession | None]: ...

    async def get_session(
        self,
        request: HttpRequest,
        *,
        session_required: bool = True,
        anti_csrf_check: bool | None = None,
        check_database: bool = False,
        claim_validators: Iterable[pb.ClaimValidator] = (),
        override_global_claim_validators: bool = False,
    ) -> HttpResult[RequestSession | None]:
        """``verify_session``: the session of the request (``value`` is None only when
        ``session_required=False`` and there is none). ``anti_csrf_check=None``: checked for
        every method but GET."""
        flow = self._layer.get(
            request,
            session_required=session_required,
            anti_csrf_check=anti_csrf_check,
            check_database=check_database,
            claim_validators=claim_validators,
            override_global_claim_validators=override_global_claim_validators,
        )
        return await self._run(flow)

    async def refresh_session(self, request: HttpRequest) -> HttpResult[RequestSession]:
        """The refresh API. On TOKEN_THEFT_DETECTED the session is revoked first."""
        return await self._run(self._layer.refresh(request))

    async def revoke_session(
        self, session: RequestSession, response: ResponseChanges
    ) -> StatusResult:
        """Revoke a session verified in this request and clear its tokens in ``response``."""
        return await self._run(self._layer.revoke(session, response))

    async def sign_out(self, request: HttpRequest) -> HttpResult[RequestSession | None]:
        """The sign-out API: the optional session (no claim checks) revoked and cleared;
        ``value`` is the session signed out, or None when there was none."""
        return await self._run(self._layer.sign_out(request))

    def clear_session(self, response: ResponseChanges, method: TransferMethod) -> None:
        self._layer.clear_session(response, method)


class SyncHttpSessions:
    """``HttpSessions`` for threaded frameworks (Flask, Django), over ``SyncSessionClient``;
    the same methods, blocking."""

    def __init__(
        self,
        client: SyncSessionClient,
        config: HttpConfig | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._layer = RequestLayer(config or HttpConfig(), clock)

    @property
    def config(self) -> HttpConfig:
        return self._layer.config

    def _run(self, flow: Flow[T]) -> T:
        reply: Any = None
        while True:
            try:
                call = flow.send(reply)
            except StopIteration as done:
                return cast(T, done.value)
            reply = self._client._invoke(call)

    def create_new_session(
        self,
        request: HttpRequest,
        user_id: str,
        access_token_payload: Mapping[str, Any] | None = None,
        session_data_in_database: Mapping[str, Any] | None = None,
    ) -> HttpOk[RequestSession]:
        flow = self._layer.create(request, user_id, access_token_payload, session_data_in_database)
        return self._run(flow)

    @overload
    def get_session(
        self,
        request: HttpRequest,
        *,
        session_required: Literal[True] = True,
        anti_csrf_check: bool | None = None,
        check_database: bool = False,
        claim_validators: Iterable[pb.ClaimValidator] = (),
        override_global_claim_validators: bool = False,
    ) -> HttpResult[RequestSession]: ...

    @overload
    def get_session(
        self,
        request: HttpRequest,
        *,
        session_required: bool,
        anti_csrf_check: bool | None = None,
        check_database: bool = False,
        claim_validators: Iterable[pb.ClaimValidator] = (),
        override_global_claim_validators: bool = False,
    ) -> HttpResult[RequestSession | None]: ...

    def get_session(
        self,
        request: HttpRequest,
        *,
        session_required: bool = True,
        anti_csrf_check: bool | None = None,
        check_database: bool = False,
        claim_validators: Iterable[pb.ClaimValidator] = (),
        override_global_claim_validators: bool = False,
    ) -> HttpResult[RequestSession | None]:
        flow = self._layer.get(
            request,
            session_required=session_required,
            anti_csrf_check=anti_csrf_check,
            check_database=check_database,
            claim_validators=claim_validators,
            override_global_claim_validators=override_global_claim_validators,
        )
        return self._run(flow)

    def refresh_session(self, request: HttpRequest) -> HttpResult[RequestSession]:
        return self._run(self._layer.refresh(request))

    def revoke_session(self, session: RequestSession, response: ResponseChanges) -> StatusResult:
        return self._run(self._layer.revoke(session, response))

    def sign_out(self, request: HttpRequest) -> HttpResult[RequestSession | None]:
        return self._run(self._layer.sign_out(request))

    def clear_session(self, response: ResponseChanges, method: TransferMethod) -> None:
        self._layer.clear_session(response, method)
