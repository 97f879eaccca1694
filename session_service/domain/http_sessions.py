"""The HTTP session decision: supertokens-python 0.14.0's request functions
(``recipe/session/session_request_functions.py``: ``get_session_from_request``,
``refresh_session_in_request``), its ``verify_session`` and sign-out API
(``recipe/session/api/``) and its default error handlers (``recipe/session/utils.py``),
over ``SessionRecipe``. Framework-free: the HTTP edge and Envoy's ``Check`` only convert.

Every outcome is an ``Allowed`` or an ``HttpAnswer``; a failure that is no session outcome
(bad input, core unavailable) is an ``HttpAnswer`` too (``error_answer``), never an
exception.

A transport that answers a repeated token from a cache of its own gives ``verify``'s answer
only when all of these hold: the method is not OPTIONS/TRACE; there is no
``sIdRefreshToken`` cookie; the same token is chosen (a header Bearer with the structure of
an access token first, then the ``sAccessToken`` cookie, as ``token_transfer_method``
allows); no anti-CSRF work is due (GET, anti-CSRF NONE, a header token, or the route's
``anti_csrf_check`` false; VIA_CUSTOM_HEADER: a ``rid`` header); ``check_database`` is off;
no claim validators apply (the route's, or the server-wide ones when the route gives none);
``get_session`` is not overridden; the session carries no new access token; and the
upstream header names are this config's. ``recipe.get_session`` already answers a token
seen before from the verified-token cache.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from session_service.domain.claim_validators_json import claim_validators_from_json
from session_service.domain.config import AntiCsrfMode
from session_service.domain.errors import (
    CoreSaturated,
    DeadlineExceeded,
    DomainError,
    InvalidArgument,
)
from session_service.domain.http_transfer import (
    ANTI_CSRF_HEADER,
    LEGACY_ID_REFRESH_TOKEN_COOKIE,
    RID_HEADER,
    ResponseChanges,
    choose_token,
    is_access_token,
    read_token,
)
from session_service.domain.http_types import (
    TRANSFER_METHODS,
    Allowed,
    Header,
    HttpAnswer,
    HttpConfig,
    HttpRequest,
    RouteOptions,
    TransferMethod,
)
from session_service.domain.messages import NO_REFRESH_TOKEN_MESSAGE
from session_service.domain.recipe import SessionRecipe
from session_service.domain.types import ClaimError, Session, Status

JSON_CONTENT_TYPE: Header = ("content-type", "application/json; charset=utf-8")
# The SDK's default error handlers' messages.
_MESSAGES = {
    Status.UNAUTHORISED: "unauthorised",
    Status.TRY_REFRESH_TOKEN: "try refresh token",
    Status.TOKEN_THEFT_DETECTED: "token theft detected",
}
_LEGACY_SESSION = "using legacy session, please call the refresh API"
_RID_MISSING_GET = (
    "anti-csrf check failed. Please pass 'rid: \"session\"' header in the request, or set "
    "doAntiCsrfCheck to false for this API"
)
_RID_MISSING_REFRESH = (
    "anti-csrf check failed. Please pass 'rid: \"session\"' header in the request."
)
# What RFC 9110 does not allow in a field value: control characters other than HTAB.
_NOT_IN_FIELD_VALUE = re.compile("[\x00-\x08\x0a-\x1f\x7f]")
_NO_HEADER_VALUE = "the session's user id cannot be sent as an HTTP header value"
# The route options as Envoy context_extensions / query parameters name them.
ROUTE_OPTION_NAMES = ("session_required", "check_database", "anti_csrf_check", "claim_validators")
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})
_DEFAULT_ROUTE = RouteOptions()


def json_body(value: Any) -> bytes:
    """Compact UTF-8 JSON. A lone surrogate (only inside a string there) is written as its
    JSON escape, so any message echoing a request's text can be sent."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8", "backslashreplace")


def route_options(values: Mapping[str, str]) -> RouteOptions:
    """The options a route names (``ROUTE_OPTION_NAMES``; booleans ``true``/``false``,
    ``claim_validators`` a JSON list of ``session.v1.ClaimValidator``, which replaces the
    server-wide validators). Other names are ignored; a bad value is ``InvalidArgument``."""
    validators = None
    text = values.get("claim_validators")
    if text is not None:
        validators = claim_validators_from_json(text, "claim_validators")
    anti_csrf = values.get("anti_csrf_check")
    return RouteOptions(
        session_required=_flag(values, "session_required", True),
        check_database=_flag(values, "check_database", False),
        anti_csrf_check=None if anti_csrf is None else _flag(values, "anti_csrf_check", False),
        claim_validators=validators,
    )


def _flag(values: Mapping[str, str], name: str, default: bool) -> bool:
    text = values.get(name)
    if text is None:
        return default
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise InvalidArgument(name, "must be true or false")


def answer(
    status: Status | None,
    http_status: int,
    body: Any,
    changes: ResponseChanges | None = None,
    reason: str = "",
) -> HttpAnswer:
    headers = (JSON_CONTENT_TYPE, *(changes.items() if changes is not None else ()))
    return HttpAnswer(status, http_status, json_body(body), headers, reason)


def error_answer(exc: DomainError) -> HttpAnswer:
    """What a failure that is no session outcome answers: 400 for bad input, 504 when the
    caller's time ran out, 503 when the core cannot be used."""
    if isinstance(exc, InvalidArgument):
        return answer(None, 400, {"message": str(exc)}, reason=str(exc))
    if isinstance(exc, DeadlineExceeded):
        return answer(None, 504, {"message": "deadline exceeded"}, reason=str(exc))
    what = "session core busy" if isinstance(exc, CoreSaturated) else "session core unavailable"
    return answer(None, 503, {"message": what}, reason=f"{type(exc).__name__}: {exc}")


def encode_payload(payload: Mapping[str, Any]) -> str:
    """The access-token payload as an upstream header value: unpadded base64url of compact
    JSON."""
    raw = json_body(payload)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


class HttpSessions:
    """The decision over one ``SessionRecipe``; ``now_ms`` dates the access-token cookie
    (100 years from now, as the SDK)."""

    def __init__(
        self, recipe: SessionRecipe, config: HttpConfig, now_ms: Callable[[], int]
    ) -> None:
        self.recipe = recipe
        self.config = config
        self._now_ms = now_ms
        self._remove = config.upstream.names

    # -- verify_session -------------------------------------------------------------------

    async def verify(
        self,
        request: HttpRequest,
        options: RouteOptions = _DEFAULT_ROUTE,
        *,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> Allowed | HttpAnswer:
        """The SDK's ``verify_session``: OPTIONS and TRACE pass unchecked; otherwise
        ``get_session_from_request`` and the answer its error handlers give."""
        if request.method.upper() in ("OPTIONS", "TRACE"):
            return Allowed(None, None, (), self._remove, ())
        try:
            return await self._get(request, options, timeout)
        except DomainError as exc:
            return error_answer(exc)

    async def _get(
        self,
        request: HttpRequest,
        options: RouteOptions,
        timeout: float | None,  # noqa: ASYNC109
    ) -> Allowed | HttpAnswer:
        changes = self._changes()
        outcome = await self._get_session(request, options, changes, timeout)
        if isinstance(outcome, HttpAnswer):
            return outcome
        session, method = outcome
        upstream = self._upstream(session)
        if any(_NOT_IN_FIELD_VALUE.search(value) for _, value in upstream):
            # A user id with CR, LF or NUL would split the header in the proxy's request
            # upstream: such a session cannot be used through a gateway.
            changes.clear_session_from_all_token_transfer_methods()
            return self._fail(Status.UNAUTHORISED, changes, _NO_HEADER_VALUE)
        return Allowed(session, method, upstream, self._remove, changes.items())

    async def _get_session(
        self,
        request: HttpRequest,
        options: RouteOptions,
        changes: ResponseChanges,
        timeout: float | None,  # noqa: ASYNC109
    ) -> tuple[Session | None, TransferMethod | None] | HttpAnswer:
        """``get_session_from_request`` then ``attach_to_request_response``: the session
        and how its token came, with a new access token put on ``changes``."""
        config = self.config
        if request.cookie(LEGACY_ID_REFRESH_TOKEN_COOKIE) is not None:
            return self._fail(Status.TRY_REFRESH_TOKEN, changes, _LEGACY_SESSION)
        tokens: dict[TransferMethod, str] = {}
        for method in TRANSFER_METHODS:
            token = read_token(request, False, method)
            if token is not None and is_access_token(token):
                tokens[method] = token
        chosen = choose_token(tokens, config.token_transfer_method)
        anti_csrf_token = request.header(ANTI_CSRF_HEADER)
        check = options.anti_csrf_check
        if check is None:
            check = request.method.upper() != "GET"
        if chosen is not None and chosen[0] == "header":
            check = False
        if check and config.anti_csrf is AntiCsrfMode.VIA_CUSTOM_HEADER:
            # As in 0.14.0, this applies even without an access token.
            if request.header(RID_HEADER) is None:
                return self._fail(Status.TRY_REFRESH_TOKEN, changes, _RID_MISSING_GET)
            check = False
        validators = options.claim_validators
        result = await self.recipe.get_session(
            None if chosen is None else chosen[1],
            anti_csrf_token=anti_csrf_token,
            anti_csrf_check=check,
            session_required=options.session_required,
            check_database=options.check_database,
            claim_validators=validators or (),
            override_global_claim_validators=validators is not None,
            timeout=timeout,
        )
        status = result.status
        if status is Status.OK and result.session is not None:
            session = result.session
            method = "header" if chosen is None else chosen[0]
            if session.new_access_token is not None:
                # The first use after a refresh (or a changed payload): hand over the token.
                changes.set_access_token(session.access_token, session.front_token, method)
                if anti_csrf_token is not None:
                    changes.set_anti_csrf(anti_csrf_token)
            return session, method
        if status is Status.NO_SESSION and not options.session_required:
            return None, None
        if status is Status.UNAUTHORISED:
            # With a token this is the session gone (the SDK's clear_tokens=True); without
            # one ("Session does not exist") nothing is cleared.
            if chosen is not None:
                changes.clear_session_from_all_token_transfer_methods()
            return self._fail(status, changes, result.message)
        if status is Status.INVALID_CLAIMS:
            # Claims are asserted before the session is attached, so, as in the SDK, a new
            # access token minted by this call is not sent; the next call gets one again.
            body = {
                "message": "invalid claim",
                "claimValidationErrors": _claim_errors(result.invalid_claims),
            }
            return answer(status, config.invalid_claim_status_code, body, changes, result.message)
        if status is Status.TRY_REFRESH_TOKEN:
            return self._fail(status, changes, result.message)
        return self._fail(Status.UNAUTHORISED, changes, f"{status.value}: {result.message}")

    def _fail(self, status: Status, changes: ResponseChanges, reason: str) -> HttpAnswer:
        """The SDK's default handler for UNAUTHORISED, TRY_REFRESH_TOKEN and
        TOKEN_THEFT_DETECTED: ``session_expired_status_code`` and its message."""
        return answer(
            status,
            self.config.session_expired_status_code,
            {"message": _MESSAGES[status]},
            changes,
            reason,
        )

    def _upstream(self, session: Session | None) -> tuple[Header, ...]:
        if session is None:
            return ()
        names = self.config.upstream
        found: list[Header] = []
        if names.user_id:
            found.append((names.user_id, session.user_id))
        if names.session_handle:
            found.append((names.session_handle, session.session_handle))
        if names.payload:
            found.append((names.payload, encode_payload(session.access_token_payload)))
        return tuple(found)

    # -- refresh_session_in_request (the refresh API) ----------------------------------------

    async def refresh(
        self,
        request: HttpRequest,
        *,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> HttpAnswer:
        """The SDK's refresh API: 200 ``{}`` with the new tokens, or its 401 answers."""
        try:
            return await self._refresh(request, timeout)
        except DomainError as exc:
            return error_answer(exc)

    async def _refresh(
        self,
        request: HttpRequest,
        timeout: float | None,  # noqa: ASYNC109
    ) -> HttpAnswer:
        changes = self._changes()
        tokens: dict[TransferMethod, str] = {}
        for method in TRANSFER_METHODS:
            token = read_token(request, True, method)
            if token:
                tokens[method] = token
        legacy = request.cookie(LEGACY_ID_REFRESH_TOKEN_COOKIE) is not None
        chosen = choose_token(tokens, self.config.token_transfer_method)
        if chosen is None:
            if legacy:
                changes.clear_legacy_cookie()
            return self._fail(Status.UNAUTHORISED, changes, NO_REFRESH_TOKEN_MESSAGE)
        method, refresh_token = chosen
        disable_anti_csrf = method == "header"
        if self.config.anti_csrf is AntiCsrfMode.VIA_CUSTOM_HEADER and not disable_anti_csrf:
            if request.header(RID_HEADER) is None:
                return self._fail(Status.UNAUTHORISED, changes, _RID_MISSING_REFRESH)
            disable_anti_csrf = True
        # SessionRecipe.refresh_session revokes a session whose token was stolen, as the
        # SDK's default theft handler does.
        result = await self.recipe.refresh_session(
            refresh_token,
            request.header(ANTI_CSRF_HEADER),
            disable_anti_csrf,
            timeout=timeout,
        )
        session = result.session
        if result.status is Status.OK and session is not None:
            assert session.refresh_token is not None  # refresh always issues one
            for other in TRANSFER_METHODS:
                if other != method and other in tokens:
                    changes.clear_session(other)
            changes.set_access_token(session.access_token, session.front_token, method)
            issued = session.refresh_token
            changes.set_token(True, issued.token, issued.expiry_ms, method)
            if session.anti_csrf_token is not None:
                changes.set_anti_csrf(session.anti_csrf_token)
            if legacy:
                changes.clear_legacy_cookie()
            return answer(Status.OK, 200, {}, changes)
        status = result.status
        if status not in (Status.UNAUTHORISED, Status.TOKEN_THEFT_DETECTED):
            status = Status.UNAUTHORISED
        if legacy:
            changes.clear_legacy_cookie()
        changes.clear_session_from_all_token_transfer_methods()
        return self._fail(status, changes, result.message)

    # -- the sign-out API ---------------------------------------------------------------------

    async def sign_out(
        self,
        request: HttpRequest,
        *,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> HttpAnswer:
        """The SDK's sign-out API: the request's own session (optional, no claim checks)
        revoked and its tokens cleared, 200 ``{"status":"OK"}``; the session's 401 answers
        (an expired token: try refresh) as ``verify`` gives them."""
        try:
            return await self._sign_out(request, timeout)
        except DomainError as exc:
            return error_answer(exc)

    async def _sign_out(
        self,
        request: HttpRequest,
        timeout: float | None,  # noqa: ASYNC109
    ) -> HttpAnswer:
        changes = self._changes()
        options = RouteOptions(session_required=False, claim_validators=())
        outcome = await self._get_session(request, options, changes, timeout)
        if isinstance(outcome, HttpAnswer):
            return outcome
        session, method = outcome
        if session is not None and method is not None:
            # Session.revoke_session: revoked whatever the core says, and cleared.
            await self.recipe.revoke_session(session.session_handle, timeout=timeout)
            changes.clear_session(method)
        return answer(Status.OK, 200, {"status": "OK"}, changes)

    def _changes(self) -> ResponseChanges:
        return ResponseChanges(self.config, self._now_ms())


def _claim_errors(errors: tuple[ClaimError, ...]) -> list[dict[str, Any]]:
    return [{"id": e.id} if e.reason is None else {"id": e.id, "reason": e.reason} for e in errors]
