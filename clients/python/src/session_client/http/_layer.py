"""The SDK's request layer (supertokens-python 0.14.0 ``session_request_functions.py`` and
its default error handlers), each operation written once as a generator that yields the
RPCs it needs (``_calls.Call``) and returns its outcome, so it does no I/O itself.

Anti-CSRF: VIA_TOKEN is checked by the service (run it with ``--anti-csrf VIA_TOKEN`` and set
the same here); VIA_CUSTOM_HEADER (the ``rid`` header) is checked here, with the service on
NONE, because the service has no such mode.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Generator, Iterable, Mapping
from typing import Any, TypeVar
from urllib.parse import urlsplit

from session_client import _calls
from session_client._calls import Call
from session_client._pb.session.v1 import session_service_pb2 as pb
from session_client._struct import JSONObject
from session_client.http._transport import (
    ACCESS_TOKEN_COOKIE,
    ACCESS_TOKEN_HEADER,
    ANTI_CSRF_HEADER,
    FRONT_TOKEN_HEADER,
    HUNDRED_YEARS_MS,
    LEGACY_ID_REFRESH_TOKEN_COOKIE,
    REFRESH_TOKEN_COOKIE,
    REFRESH_TOKEN_HEADER,
    RID_HEADER,
    TRANSFER_METHODS,
    Cookie,
    HttpRequest,
    ResponseChanges,
    TokenType,
    TransferMethod,
    choose_token,
    is_access_token,
    read_token,
    set_exposed_header,
)
from session_client.http._types import (
    HttpConfig,
    HttpError,
    HttpOk,
    HttpResult,
    RequestSession,
    UnexpectedStatusError,
)
from session_client.types import (
    ClaimValidationError,
    CreatedSession,
    GetSessionResult,
    RefreshSessionResult,
    Session,
    SessionStatus,
    StatusResult,
    TokenInfo,
)

T = TypeVar("T")
Flow = Generator[Call[Any], Any, T]


_MESSAGES = {
    SessionStatus.UNAUTHORISED: "unauthorised",
    SessionStatus.TRY_REFRESH_TOKEN: "try refresh token",
    SessionStatus.TOKEN_THEFT_DETECTED: "token theft detected",
}


def _fail(response: ResponseChanges, status: SessionStatus, reason: str) -> HttpError:
    return HttpError(status, 401, {"message": _MESSAGES[status]}, reason, response)


def _invalid_claims(
    response: ResponseChanges, errors: Iterable[ClaimValidationError], reason: str
) -> HttpError:
    body: JSONObject = {
        "message": "invalid claim",
        "claimValidationErrors": [
            {"id": e.id} if e.reason is None else {"id": e.id, "reason": e.reason} for e in errors
        ],
    }
    return HttpError(SessionStatus.INVALID_CLAIMS, 403, body, reason, response)


class RequestLayer:
    """The operations as generators; ``HttpSessions`` and ``SyncHttpSessions`` run them."""

    def __init__(self, config: HttpConfig, clock: Callable[[], float]) -> None:
        self.config = config
        self._clock = clock

    # -- create (create_new_session_in_request) ---------------------------------------------

    def create(
        self,
        request: HttpRequest,
        user_id: str,
        access_token_payload: Mapping[str, Any] | None,
        session_data_in_database: Mapping[str, Any] | None,
    ) -> Flow[HttpOk[RequestSession]]:
        config = self.config
        chosen = config.get_token_transfer_method(request, True)
        method: TransferMethod = "header" if chosen == "any" else chosen
        if (
            method == "cookie"
            and config.cookie_same_site == "none"
            and not config.cookie_secure
            and not (_is_local(config.api_domain) and _is_local(config.website_domain))
        ):
            raise ValueError(
                "Since your API and website domain are different, for sessions to work, please"
                " use https on your apiDomain and don't set cookieSecure to false."
            )
        # Header transfer needs no anti-CSRF token: a cross-site page cannot set headers.
        created: CreatedSession = yield _calls.create_session(
            user_id,
            access_token_payload,
            session_data_in_database,
            disable_anti_csrf=method == "header",
        )
        response = ResponseChanges()
        for other in TRANSFER_METHODS:
            if other != method and read_token(request, "access", other) is not None:
                self.clear_session(response, other)
        self._attach(response, method, created.session, created.refresh_token)
        if created.anti_csrf_token is not None:
            set_exposed_header(response, ANTI_CSRF_HEADER, created.anti_csrf_token)
        return HttpOk(RequestSession(created.session, method), response)

    # -- get (get_session_from_request + assert_claims) -------------------------------------

    def get(
        self,
        request: HttpRequest,
        *,
        session_required: bool,
        anti_csrf_check: bool | None,
        check_database: bool,
        claim_validators: Iterable[pb.ClaimValidator],
        override_global_claim_validators: bool,
    ) -> Flow[HttpResult[RequestSession | None]]:
        response = ResponseChanges()
        if request.cookie(LEGACY_ID_REFRESH_TOKEN_COOKIE) is not None:
            return _fail(
                response,
                SessionStatus.TRY_REFRESH_TOKEN,
                "using legacy session, please call the refresh API",
            )
        # Tokens that cannot be access tokens are ignored: a stray bearer token must not
        # hide the cookie.
        tokens: dict[TransferMethod, str] = {}
        for method in TRANSFER_METHODS:
            token = read_token(request, "access", method)
            if token is not None and is_access_token(token):
                tokens[method] = token
        allowed = self.config.get_token_transfer_method(request, False)
        chosen = choose_token(tokens, allowed)

        anti_csrf_token = request.header(ANTI_CSRF_HEADER)
        check = request.method.upper() != "GET" if anti_csrf_check is None else anti_csrf_check
        if chosen is not None and chosen[0] == "header":
            check = False
        if check and self.config.anti_csrf == "VIA_CUSTOM_HEADER":
            # As in 0.14.0, this applies even without an access token (0.14.8 changed that).
            if request.header(RID_HEADER) is None:
                return _fail(
                    response,
                    SessionStatus.TRY_REFRESH_TOKEN,
                    "anti-csrf check failed. Please pass 'rid: \"session\"' header in the"
                    " request, or set doAntiCsrfCheck to false for this API",
                )
            check = False

        result: GetSessionResult = yield _calls.get_session(
            None if chosen is None else chosen[1],
            anti_csrf_token=anti_csrf_token,
            anti_csrf_check=check,
            session_required=session_required,
            check_database=check_database,
            claim_validators=claim_validators,
            override_global_claim_validators=override_global_claim_validators,
        )
        status = result.status
        if status is SessionStatus.OK and result.session is not None:
            method = "header" if chosen is None else chosen[0]
            if result.new_access_token is not None:
                # The first use after a refresh (or check_database): hand over the new token.
                self._set_access_token(response, method, result.session)
                if anti_csrf_token is not None:
                    set_exposed_header(response, ANTI_CSRF_HEADER, anti_csrf_token)
            return HttpOk(RequestSession(result.session, method), response)
        if status is SessionStatus.NO_SESSION and not session_required:
            return HttpOk(None, response)
        if status is SessionStatus.UNAUTHORISED:
            # With a token this is the core saying the session is gone (the SDK's
            # clear_tokens=True); without one ("Session does not exist") nothing is cleared.
            if chosen is not None:
                self.clear_session_from_all_token_transfer_methods(response)
            return _fail(response, status, result.message)
        if status is SessionStatus.TRY_REFRESH_TOKEN:
            return _fail(response, status, result.message)
        if status is SessionStatus.INVALID_CLAIMS:
            # Claims are asserted before the session is attached, so, as in the SDK, a new
            # access token minted by this call is not sent; the next call gets one again.
            return _invalid_claims(response, result.invalid_claims, result.message)
        raise UnexpectedStatusError(f"GetSession answered {status.name}: {result.message}")

    # -- refresh (refresh_session_in_request) -----------------------------------------------

    def refresh(self, request: HttpRequest) -> Flow[HttpResult[RequestSession]]:
        response = ResponseChanges()
        tokens: dict[TransferMethod, str] = {}
        for method in TRANSFER_METHODS:
            token = read_token(request, "refresh", method)
            if token:
                tokens[method] = token
        has_legacy_cookie = request.cookie(LEGACY_ID_REFRESH_TOKEN_COOKIE) is not None
        chosen = choose_token(tokens, self.config.get_token_transfer_method(request, False))
        if chosen is None:
            if has_legacy_cookie:
                self._clear_legacy_cookie(response)
            return _fail(
                response,
                SessionStatus.UNAUTHORISED,
                "Refresh token not found. Are you sending the refresh token in the request?",
            )
        method, refresh_token = chosen
        disable_anti_csrf = method == "header"
        if self.config.anti_csrf == "VIA_CUSTOM_HEADER" and not disable_anti_csrf:
            if request.header(RID_HEADER) is None:
                return _fail(
                    response,
                    SessionStatus.UNAUTHORISED,
                    "anti-csrf check failed. Please pass 'rid: \"session\"' header in the request.",
                )
            disable_anti_csrf = True

        result: RefreshSessionResult = yield _calls.refresh_session(
            refresh_token, request.header(ANTI_CSRF_HEADER), disable_anti_csrf
        )
        status = result.status
        if (
            status is SessionStatus.OK
            and result.session is not None
            and result.refresh_token is not None
        ):
            for other in TRANSFER_METHODS:
                if other != method and other in tokens:
                    self.clear_session(response, other)
            self._attach(response, method, result.session, result.refresh_token)
            if result.anti_csrf_token is not None:
                set_exposed_header(response, ANTI_CSRF_HEADER, result.anti_csrf_token)
            if has_legacy_cookie:
                self._clear_legacy_cookie(response)
            return HttpOk(RequestSession(result.session, method), response)
        if status is SessionStatus.UNAUTHORISED or status is SessionStatus.TOKEN_THEFT_DETECTED:
            if has_legacy_cookie:
                self._clear_legacy_cookie(response)
            if result.token_theft is not None:
                # The SDK's default theft handler revokes the session whose token was reused.
                yield _calls.revoke_session(result.token_theft.session_handle)
            self.clear_session_from_all_token_transfer_methods(response)
            return _fail(response, status, result.message)
        raise UnexpectedStatusError(f"RefreshSession answered {status.name}: {result.message}")

    # -- revoke and sign out ----------------------------------------------------------------

    def revoke(self, session: RequestSession, response: ResponseChanges) -> Flow[StatusResult]:
        # Cleared whatever the result, as the SDK does for the request's own session.
        result: StatusResult = yield _calls.revoke_session(session.session_handle)
        self.clear_session(response, session.transfer_method)
        return result

    def sign_out(self, request: HttpRequest) -> Flow[HttpResult[RequestSession | None]]:
        verified = yield from self.get(
            request,
            session_required=False,
            anti_csrf_check=None,
            check_database=False,
            claim_validators=(),
            override_global_claim_validators=True,
        )
        if verified.ok and verified.value is not None:
            yield from self.revoke(verified.value, verified.response)
        return verified

    # -- response writing (cookie_and_header.py) --------------------------------------------

    def _attach(
        self,
        response: ResponseChanges,
        method: TransferMethod,
        session: Session,
        refresh_token: TokenInfo,
    ) -> None:
        self._set_access_token(response, method, session)
        self._set_token(response, "refresh", refresh_token.token, refresh_token.expiry, method)

    def _set_access_token(
        self, response: ResponseChanges, method: TransferMethod, session: Session
    ) -> None:
        set_exposed_header(response, FRONT_TOKEN_HEADER, session.front_token)
        expires = int(self._clock() * 1000) + HUNDRED_YEARS_MS
        self._set_token(response, "access", session.access_token, expires, method)
        if self.config.expose_access_token_to_frontend_in_cookie_based_auth and method == "cookie":
            self._set_token(response, "access", session.access_token, expires, "header")

    def _set_token(
        self,
        response: ResponseChanges,
        token_type: TokenType,
        value: str,
        expires_ms: int,
        method: TransferMethod,
    ) -> None:
        if method == "header":
            name = ACCESS_TOKEN_HEADER if token_type == "access" else REFRESH_TOKEN_HEADER
            set_exposed_header(response, name, value)
        elif token_type == "access":
            response.set_cookie(self._cookie(ACCESS_TOKEN_COOKIE, value, expires_ms, "/"))
        else:
            # The refresh cookie goes only to the refresh API, so other requests never carry it.
            path = self.config.refresh_token_path
            response.set_cookie(self._cookie(REFRESH_TOKEN_COOKIE, value, expires_ms, path))

    def _cookie(self, name: str, value: str, expires_ms: int, path: str) -> Cookie:
        config = self.config
        return Cookie(
            name=name,
            value=value,
            expires_ms=expires_ms,
            path=path,
            domain=config.cookie_domain,
            secure=config.cookie_secure,
            http_only=True,
            same_site=config.cookie_same_site,
        )

    def clear_session(self, response: ResponseChanges, method: TransferMethod) -> None:
        """Empty tokens with expiry 0, no anti-CSRF header, ``front-token: remove``."""
        self._set_token(response, "access", "", 0, method)
        self._set_token(response, "refresh", "", 0, method)
        response.remove_header(ANTI_CSRF_HEADER)
        set_exposed_header(response, FRONT_TOKEN_HEADER, "remove")

    def clear_session_from_all_token_transfer_methods(self, response: ResponseChanges) -> None:
        """Both methods, so that tokens an earlier step put on this response go too."""
        for method in TRANSFER_METHODS:
            self.clear_session(response, method)

    def _clear_legacy_cookie(self, response: ResponseChanges) -> None:
        response.set_cookie(self._cookie(LEGACY_ID_REFRESH_TOKEN_COOKIE, "", 0, "/"))


def _is_local(domain: str | None) -> bool:
    """localhost or an IP address (the SDK's exception for insecure SameSite=None)."""
    if domain is None:
        return False
    host = urlsplit(domain if "://" in domain else f"http://{domain}").hostname or ""
    if host == "localhost":
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
