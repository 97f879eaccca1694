"""What the HTTP session decision (``http_sessions.py``) reads and answers, framework-free:
a request description in, an ``Allowed`` or an ``HttpAnswer`` out, every header a
``(name, value)`` pair (names lower-case; several ``set-cookie`` pairs where the SDK sets
several cookies). A transport (the HTTP edge, Envoy's ``Check``) only converts.

The configuration is supertokens-python 0.14.0's session config as far as HTTP goes
(``recipe/session/utils.py`` ``SessionConfig``), plus the names of the headers an allowed
request carries upstream.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import unquote, urlsplit

from session_service.domain.config import AntiCsrfMode, parse_anti_csrf_mode
from session_service.domain.errors import InvalidArgument
from session_service.domain.types import ClaimValidatorSpec, Session, Status

Header = tuple[str, str]
TransferMethod = Literal["header", "cookie"]
AllowedTransferMethod = Literal["header", "cookie", "any"]
SameSite = Literal["lax", "strict", "none"]
TRANSFER_METHODS: tuple[TransferMethod, ...] = ("cookie", "header")
SAME_SITE_VALUES: tuple[SameSite, ...] = ("lax", "strict", "none")
ALLOWED_TRANSFER_METHODS: tuple[AllowedTransferMethod, ...] = ("any", "header", "cookie")
# The SDK's default status codes (session config ``session_expired_status_code``,
# ``invalid_claim_status_code``).
DEFAULT_SESSION_EXPIRED_STATUS_CODE = 401
DEFAULT_INVALID_CLAIM_STATUS_CODE = 403
DEFAULT_USER_ID_HEADER = "x-session-user-id"
DEFAULT_SESSION_HANDLE_HEADER = "x-session-handle"
DEFAULT_PAYLOAD_HEADER = "x-session-payload"
# RFC 9110 token characters: what a header name may hold.
_TOKEN_CHARS = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz")


@dataclass(frozen=True, slots=True, kw_only=True)
class UpstreamHeaders:
    """The headers an allowed request carries to the protected service, and whose copies a
    client sent are removed (so they cannot be forged). An empty name turns one off.

    * ``user_id``: the session's user id.
    * ``session_handle``: the session handle.
    * ``payload``: the access-token payload as unpadded base64url of compact JSON.
    """

    user_id: str = DEFAULT_USER_ID_HEADER
    session_handle: str = DEFAULT_SESSION_HANDLE_HEADER
    payload: str = DEFAULT_PAYLOAD_HEADER

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for name in ("user_id", "session_handle", "payload"):
            lowered = getattr(self, name).strip().lower()
            if lowered in ("", "none"):
                object.__setattr__(self, name, "")
                continue
            if not set(lowered) <= _TOKEN_CHARS:
                raise InvalidArgument(f"upstream_{name}_header", "is not an HTTP header name")
            if lowered in seen:
                raise InvalidArgument(f"upstream_{name}_header", "names another header too")
            seen.add(lowered)
            object.__setattr__(self, name, lowered)

    @property
    def names(self) -> tuple[str, ...]:
        """The names in use (lower-case)."""
        return tuple(n for n in (self.user_id, self.session_handle, self.payload) if n)


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpConfig:
    """The SDK's session config for HTTP (``session.init``).

    * ``refresh_token_path``: the path of the refresh API, where the ``sRefreshToken``
      cookie goes (the SDK: ``api_base_path`` + ``/session/refresh``).
    * ``access_token_path``: the ``sAccessToken`` cookie's path (the SDK: ``/``).
    * ``anti_csrf``: NONE, VIA_TOKEN (the core's token in the ``anti-csrf`` header) or
      VIA_CUSTOM_HEADER (a ``rid`` header on cookie requests other than GET).
    * ``token_transfer_method``: what the SDK's default ``get_token_transfer_method``
      answers when reading tokens (``any``); ``header`` or ``cookie`` accepts only that.
    * ``session_expired_status_code`` / ``invalid_claim_status_code``: the SDK's settings.
    * ``expose_access_token_to_frontend_in_cookie_based_auth``: the SDK's setting (the
      access token also as ``st-access-token`` in cookie mode).
    """

    refresh_token_path: str = "/auth/session/refresh"
    access_token_path: str = "/"
    cookie_domain: str | None = None
    cookie_secure: bool = False
    cookie_same_site: SameSite = "lax"
    anti_csrf: AntiCsrfMode = AntiCsrfMode.NONE
    token_transfer_method: AllowedTransferMethod = "any"
    session_expired_status_code: int = DEFAULT_SESSION_EXPIRED_STATUS_CODE
    invalid_claim_status_code: int = DEFAULT_INVALID_CLAIM_STATUS_CODE
    expose_access_token_to_frontend_in_cookie_based_auth: bool = False
    upstream: UpstreamHeaders = field(default_factory=UpstreamHeaders)

    def __post_init__(self) -> None:
        if not isinstance(self.anti_csrf, AntiCsrfMode):
            object.__setattr__(self, "anti_csrf", parse_anti_csrf_mode(str(self.anti_csrf)))
        for name in ("refresh_token_path", "access_token_path"):
            if not getattr(self, name).startswith("/"):
                raise InvalidArgument(name, "must start with '/'")
        if self.cookie_same_site not in SAME_SITE_VALUES:
            raise InvalidArgument("cookie_same_site", "must be lax, strict or none")
        if self.token_transfer_method not in ALLOWED_TRANSFER_METHODS:
            raise InvalidArgument("token_transfer_method", "must be any, header or cookie")
        for name in ("session_expired_status_code", "invalid_claim_status_code"):
            code = getattr(self, name)
            # The SDK's send_non_200_response refuses codes below 300.
            if not 300 <= code <= 599:
                raise InvalidArgument(name, "must be an HTTP status code from 300 to 599")
        if self.session_expired_status_code == self.invalid_claim_status_code:
            # The SDK's session init refuses the same code for both.
            raise InvalidArgument(
                "invalid_claim_status_code", "must differ from session_expired_status_code"
            )
        if self.cookie_domain is not None and not self.cookie_domain.strip():
            object.__setattr__(self, "cookie_domain", None)


def check_same_site_none(config: HttpConfig, api_domain: str) -> None:
    """The SDK's refusal of ``SameSite=None`` cookies without ``Secure`` unless the API is
    on localhost or an IP address (browsers drop them)."""
    if config.cookie_same_site != "none" or config.cookie_secure:
        return
    host = urlsplit(api_domain).hostname or ""
    if host == "localhost":
        return
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise InvalidArgument(
            "cookie_same_site",
            "none needs cookie_secure (browsers drop insecure SameSite=None cookies)",
        ) from None


@dataclass(frozen=True, slots=True, kw_only=True)
class RouteOptions:
    """Per-route options of the SDK's ``verify_session``.

    * ``session_required``: False lets a request without a session through (no upstream
      headers).
    * ``anti_csrf_check``: None checks every method but GET (the SDK's default).
    * ``check_database``: ask the core whether the session still exists.
    * ``claim_validators``: None applies the server-wide validators; a tuple (possibly
      empty) replaces them, as the SDK's ``override_global_claim_validators``.
    """

    session_required: bool = True
    anti_csrf_check: bool | None = None
    check_database: bool = False
    claim_validators: tuple[ClaimValidatorSpec, ...] | None = None


class HttpRequest:
    """A request as the SDK reads it: method, path, headers (any case; a repeated header
    joined as HTTP allows, ``cookie`` with ``; ``) and cookies (from ``Cookie`` headers)."""

    __slots__ = ("_cookies", "_headers", "method", "path")

    def __init__(self, method: str, path: str, headers: Iterable[Header]) -> None:
        self.method = method
        self.path = path
        joined: dict[str, str] = {}
        for name, value in headers:
            key = name.lower()
            if key in joined:
                joined[key] += ("; " if key == "cookie" else ", ") + value
            else:
                joined[key] = value
        self._headers = joined
        self._cookies: dict[str, str] | None = None

    def header(self, name: str) -> str | None:
        return self._headers.get(name)

    def cookie(self, name: str) -> str | None:
        """URL-decoded, as the SDK reads its cookies."""
        if self._cookies is None:
            self._cookies = parse_cookie_header(self._headers.get("cookie"))
        value = self._cookies.get(name)
        return None if value is None else unquote(value)


def parse_cookie_header(header: str | None) -> dict[str, str]:
    """The cookies of a ``Cookie`` header, values as sent. When a name repeats the first
    wins: browsers send the cookie with the most specific path first."""
    cookies: dict[str, str] = {}
    for part in (header or "").split(";"):
        name, eq, value = part.partition("=")
        name, value = name.strip(), value.strip()
        if not eq or not name or name in cookies:
            continue
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        cookies[name] = value
    return cookies


@dataclass(frozen=True, slots=True)
class Allowed:
    """Let the request through.

    * ``session``: the verified session; None only when the route does not require one and
      the request has none (or its method is OPTIONS/TRACE, which the SDK's
      ``verify_session`` lets through unchecked).
    * ``transfer_method``: how the request carried its token (None without a session).
    * ``upstream_headers``: to add to the upstream request (after removing
      ``remove_upstream_headers``, the configured names, whatever the client sent).
    * ``response_headers``: to set on the response to the client: on promotion (a new
      access token) ``front-token``, the token as cookie or ``st-access-token``,
      ``access-control-expose-headers`` and ``anti-csrf``; usually empty.
    """

    session: Session | None
    transfer_method: TransferMethod | None
    upstream_headers: tuple[Header, ...]
    remove_upstream_headers: tuple[str, ...]
    response_headers: tuple[Header, ...]


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    """A complete HTTP answer to the client: a denial of ``verify``, or what the refresh and
    sign-out APIs answer.

    * ``status``: the outcome (OK for a successful refresh/sign-out; UNAUTHORISED,
      TRY_REFRESH_TOKEN, TOKEN_THEFT_DETECTED, INVALID_CLAIMS); None for an answer that is no
      session outcome (bad input 400, core unavailable 503, ...).
    * ``body``: JSON bytes; ``headers`` include ``content-type`` and the SDK's cookie
      clearing where it clears.
    * ``reason``: for server logs; never holds token material.
    """

    status: Status | None
    http_status: int
    body: bytes
    headers: tuple[Header, ...]
    reason: str = ""
