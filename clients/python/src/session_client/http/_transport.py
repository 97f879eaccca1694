"""How tokens travel over HTTP in supertokens-python 0.14.0 (``recipe/session/constants.py``,
``cookie_and_header.py``, ``jwt.py``): names, reading a request, writing a response.
Framework-neutral: a request is its method and headers, a response is a list of header
changes and cookies."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any, Literal
from urllib.parse import quote, unquote

TransferMethod = Literal["header", "cookie"]
AllowedTransferMethod = Literal["header", "cookie", "any"]
TokenType = Literal["access", "refresh"]
SameSite = Literal["lax", "strict", "none"]
TRANSFER_METHODS: tuple[TransferMethod, ...] = ("cookie", "header")
_PREFERENCE: tuple[TransferMethod, ...] = ("header", "cookie")

ACCESS_TOKEN_COOKIE = "sAccessToken"
REFRESH_TOKEN_COOKIE = "sRefreshToken"
# Pre-0.13 cookie: its presence means an old session that must go through the refresh API.
LEGACY_ID_REFRESH_TOKEN_COOKIE = "sIdRefreshToken"
ACCESS_TOKEN_HEADER = "st-access-token"
REFRESH_TOKEN_HEADER = "st-refresh-token"
FRONT_TOKEN_HEADER = "front-token"
ANTI_CSRF_HEADER = "anti-csrf"
AUTHORIZATION_HEADER = "authorization"
RID_HEADER = "rid"
AUTH_MODE_HEADER = "st-auth-mode"
ACCESS_CONTROL_EXPOSE_HEADERS = "access-control-expose-headers"
# The request headers a CORS setup must allow for the SDK's frontends (get_cors_allowed_headers).
CORS_ALLOWED_HEADERS = (ANTI_CSRF_HEADER, RID_HEADER, AUTHORIZATION_HEADER, AUTH_MODE_HEADER)
DEFAULT_REFRESH_TOKEN_PATH = "/auth/session/refresh"
# The access-token cookie outlives the token: the token's own exp decides validity.
HUNDRED_YEARS_MS = 3_153_600_000_000


# -- request -------------------------------------------------------------------------------


class HttpRequest:
    """What the session layer reads from a request: its method, headers (any case; a
    repeated header is joined as HTTP allows) and cookies (parsed from the ``Cookie`` header
    unless the framework already parsed them)."""

    def __init__(
        self,
        method: str,
        headers: Mapping[str, str] | Iterable[tuple[str, str]],
        cookies: Mapping[str, str] | None = None,
    ) -> None:
        self.method = method
        pairs = headers.items() if isinstance(headers, Mapping) else headers
        joined: dict[str, str] = {}
        for name, value in pairs:
            key = name.lower()
            if key in joined:
                joined[key] += ("; " if key == "cookie" else ", ") + value
            else:
                joined[key] = value
        self._headers = joined
        self._cookies = (
            dict(cookies) if cookies is not None else parse_cookie_header(joined.get("cookie"))
        )

    def header(self, name: str) -> str | None:
        return self._headers.get(name.lower())

    def cookie(self, name: str) -> str | None:
        """URL-decoded, as the SDK reads its cookies."""
        value = self._cookies.get(name)
        return None if value is None else unquote(value)


def parse_cookie_header(header: str | None) -> dict[str, str]:
    """The cookies of a ``Cookie`` header, values as sent (not yet URL-decoded). When a name
    repeats the first wins: browsers send the cookie with the most specific path first."""
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


def read_token(request: HttpRequest, token_type: TokenType, method: TransferMethod) -> str | None:
    """A token as ``method`` carries it. In header mode both tokens travel as
    ``Authorization: Bearer``: the access token to APIs, the refresh token to the refresh API."""
    if method == "cookie":
        name = ACCESS_TOKEN_COOKIE if token_type == "access" else REFRESH_TOKEN_COOKIE
        return request.cookie(name)
    value = request.header(AUTHORIZATION_HEADER)
    if value is None or not value.startswith("Bearer "):
        return None
    return value[len("Bearer ") :].strip()


TokenTransferMethodChooser = Callable[[HttpRequest, bool], AllowedTransferMethod]
"""The SDK's ``get_token_transfer_method(request, for_create_new_session)``."""


def default_token_transfer_method(
    request: HttpRequest, for_create_new_session: bool
) -> AllowedTransferMethod:
    """The SDK default: ``any`` when reading tokens; at sign-in the ``st-auth-mode`` request
    header when it says ``header`` or ``cookie``, else ``any`` (which sign-in makes header)."""
    if not for_create_new_session:
        return "any"
    mode = (request.header(AUTH_MODE_HEADER) or "").lower()
    return "header" if mode == "header" else "cookie" if mode == "cookie" else "any"


def choose_token(
    tokens: Mapping[TransferMethod, str], allowed: AllowedTransferMethod
) -> tuple[TransferMethod, str] | None:
    """The SDK's pick among the tokens a request carries: the header first, then the cookie,
    each only when ``allowed``."""
    for method in _PREFERENCE:
        token = tokens.get(method)
        if token and allowed in ("any", method):
            return method, token
    return None


# -- access-token structure (jwt.py, access_token.py#validate_access_token_structure) -------

# Standard (padded, non-URL-safe) base64 of {"alg":"RS256","typ":"JWT","version":"2"}.
_V2_HEADER = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsInZlcnNpb24iOiIyIn0="


def is_access_token(token: str) -> bool:
    """Whether ``token`` parses as a SuperTokens access token (v2, or v3+ with a kid) with
    the claims its version requires. The signature is not checked here (the service does
    that); the request layer uses this to ignore, say, an unrelated bearer token."""
    try:
        raw_header, raw_payload, _ = token.split(".")
        if raw_header == _V2_HEADER:
            version = 2
        else:
            header = _decode_segment(raw_header)
            if not isinstance(header.get("version"), str):
                return False
            version = int(header["version"])
            if header["typ"] != "JWT" or version < 3 or header.get("kid") is None:
                return False
        payload = _decode_segment(raw_payload)
    except (ValueError, KeyError, AttributeError, TypeError):
        return False
    if not isinstance(payload, dict):
        return False
    if version >= 3:
        return (
            isinstance(payload.get("sub"), str)
            and isinstance(payload.get("exp"), int)
            and isinstance(payload.get("iat"), int)
            and isinstance(payload.get("sessionHandle"), str)
            and isinstance(payload.get("refreshTokenHash1"), str)
        )
    return (
        isinstance(payload.get("sessionHandle"), str)
        and payload.get("userData") is not None
        and isinstance(payload.get("refreshTokenHash1"), str)
        and isinstance(payload.get("expiryTime"), int)
        and isinstance(payload.get("timeCreated"), int)
    )


def _decode_segment(segment: str) -> Any:
    # ValueError covers bad base64, bad UTF-8 and bad JSON alike.
    return json.loads(base64.urlsafe_b64decode(segment.encode() + b"=="))


# -- response -----------------------------------------------------------------------------

_SAME_SITE = {"lax": "Lax", "strict": "Strict", "none": "None"}


@dataclass(frozen=True)
class Cookie:
    """A cookie to set; ``expires_ms`` is epoch ms (0 clears it). ``value`` is unencoded:
    it is URL-encoded in ``Set-Cookie`` as the SDK does."""

    name: str
    value: str
    expires_ms: int
    path: str
    domain: str | None
    secure: bool
    http_only: bool
    same_site: SameSite

    def to_set_cookie(self) -> str:
        parts = [
            f"{self.name}={quote(self.value)}",
            f"Path={self.path}",
            f"Expires={formatdate(self.expires_ms // 1000, usegmt=True)}",
        ]
        if self.domain:
            parts.append(f"Domain={self.domain}")
        if self.http_only:
            parts.append("HttpOnly")
        if self.secure:
            parts.append("Secure")
        parts.append(f"SameSite={_SAME_SITE[self.same_site]}")
        return "; ".join(parts)


class ResponseChanges:
    """What a session operation wants done to the response, in the order of the SDK's
    response mutators: a later write of a header or cookie replaces the earlier one (so
    clearing after setting leaves it cleared); ``Access-Control-Expose-Headers`` accumulates."""

    def __init__(self) -> None:
        self._headers: dict[str, str] = {}
        self._cookies: list[Cookie] = []

    def set_header(self, name: str, value: str) -> None:
        key = name.lower()
        if key == ACCESS_CONTROL_EXPOSE_HEADERS:
            value = merge_header_list(self._headers.get(key), value)
        self._headers[key] = value

    def remove_header(self, name: str) -> None:
        self._headers.pop(name.lower(), None)

    def set_cookie(self, cookie: Cookie) -> None:
        """Replaces an earlier cookie with the same name, path and domain."""
        self._cookies = [
            c
            for c in self._cookies
            if (c.name, c.path, c.domain) != (cookie.name, cookie.path, cookie.domain)
        ]
        self._cookies.append(cookie)

    @property
    def headers(self) -> Mapping[str, str]:
        """Headers to set (lowercase names), without ``Set-Cookie``."""
        return dict(self._headers)

    @property
    def cookies(self) -> Sequence[Cookie]:
        return tuple(self._cookies)

    def header_items(self) -> list[tuple[str, str]]:
        """Everything as ``(name, value)`` header lines, one ``set-cookie`` per cookie: what
        a framework appends to its response (or a WSGI app passes to ``start_response``).
        Merge ``access-control-expose-headers`` with any value the app sets itself."""
        return [
            *self._headers.items(),
            *(("set-cookie", cookie.to_set_cookie()) for cookie in self._cookies),
        ]


def merge_header_list(existing: str | None, addition: str) -> str:
    """``existing`` plus the comma-separated items of ``addition`` not already in it."""
    items = [item.strip() for item in (existing or "").split(",") if item.strip()]
    for item in (part.strip() for part in addition.split(",")):
        if item and item.lower() not in (i.lower() for i in items):
            items.append(item)
    return ", ".join(items)


def set_exposed_header(response: ResponseChanges, name: str, value: str) -> None:
    """A header browsers' JavaScript may read (cross-origin), as the SDK sets its tokens."""
    response.set_header(name, value)
    response.set_header(ACCESS_CONTROL_EXPOSE_HEADERS, name)
