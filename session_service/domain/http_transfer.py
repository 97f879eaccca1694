"""How tokens travel over HTTP in supertokens-python 0.14.0 (``recipe/session/constants.py``,
``cookie_and_header.py``): the names, reading tokens from a request, and the response
changes its mutators make (tokens as cookies or headers, the front token, clearing).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import formatdate
from urllib.parse import quote

from session_service.domain.http_types import (
    AllowedTransferMethod,
    Header,
    HttpConfig,
    HttpRequest,
    SameSite,
    TransferMethod,
)
from session_service.domain.token_parsing import TokenParseError, parse_access_token

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
# The request headers a CORS setup must allow for the SDK's frontends
# (``get_cors_allowed_headers``).
CORS_ALLOWED_HEADERS = (ANTI_CSRF_HEADER, RID_HEADER, AUTHORIZATION_HEADER, AUTH_MODE_HEADER)
# The access-token cookie outlives the token: the token's own exp decides validity.
HUNDRED_YEARS_MS = 3_153_600_000_000
_PREFERENCE: tuple[TransferMethod, ...] = ("header", "cookie")
_SAME_SITE = {"lax": "Lax", "strict": "Strict", "none": "None"}


def read_token(request: HttpRequest, refresh: bool, method: TransferMethod) -> str | None:
    """The SDK's ``get_token``: a token as ``method`` carries it. In header mode both tokens
    travel as ``Authorization: Bearer``: the access token to APIs, the refresh token to the
    refresh API."""
    if method == "cookie":
        return request.cookie(REFRESH_TOKEN_COOKIE if refresh else ACCESS_TOKEN_COOKIE)
    value = request.header(AUTHORIZATION_HEADER)
    if value is None or not value.startswith("Bearer "):
        return None
    return value[len("Bearer ") :].strip()


def is_access_token(token: str) -> bool:
    """Whether ``token`` has the structure of a session access token (the SDK's
    ``parse_jwt_without_signature_verification`` + ``validate_access_token_structure``):
    the SDK ignores a token that does not, so a stray bearer token cannot hide the cookie."""
    try:
        parse_access_token(token, max_length=len(token) + 1)
    except TokenParseError:
        return False
    return True


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


@dataclass(frozen=True, slots=True)
class Cookie:
    """A cookie to set; ``expires_ms`` is epoch ms (0 clears it); ``value`` is URL-encoded
    in ``Set-Cookie`` as the SDK does."""

    name: str
    value: str
    expires_ms: int
    path: str
    domain: str | None
    secure: bool
    same_site: SameSite

    def set_cookie_value(self) -> str:
        parts = [
            f"{self.name}={quote(self.value, encoding='utf-8')}",
            f"Path={self.path}",
            f"Expires={formatdate(self.expires_ms // 1000, usegmt=True)}",
        ]
        if self.domain:
            parts.append(f"Domain={self.domain}")
        parts.append("HttpOnly")
        if self.secure:
            parts.append("Secure")
        parts.append(f"SameSite={_SAME_SITE[self.same_site]}")
        return "; ".join(parts)


class ResponseChanges:
    """What the SDK's response mutators do to a response, in order: a later write of a
    header or cookie replaces the earlier one (so clearing after setting leaves it cleared);
    ``access-control-expose-headers`` accumulates."""

    __slots__ = ("_config", "_cookies", "_headers", "_now_ms")

    def __init__(self, config: HttpConfig, now_ms: int) -> None:
        self._config = config
        self._now_ms = now_ms
        self._headers: dict[str, str] = {}
        self._cookies: dict[tuple[str, str], Cookie] = {}

    def set_header(self, name: str, value: str) -> None:
        self._headers[name] = value

    def remove_header(self, name: str) -> None:
        self._headers.pop(name, None)

    def set_exposed_header(self, name: str, value: str) -> None:
        """A header browsers' JavaScript may read cross-origin (the SDK's
        ``set_header(..., ACCESS_CONTROL_EXPOSE_HEADERS, name, True)``, which joins with
        ``,``; a name already listed is not listed again)."""
        self._headers[name] = value
        exposed = self._headers.get(ACCESS_CONTROL_EXPOSE_HEADERS)
        if exposed is None:
            self._headers[ACCESS_CONTROL_EXPOSE_HEADERS] = name
        elif name not in (item.strip() for item in exposed.split(",")):
            self._headers[ACCESS_CONTROL_EXPOSE_HEADERS] = f"{exposed},{name}"

    def set_cookie(self, name: str, value: str, expires_ms: int, path: str) -> None:
        config = self._config
        cookie = Cookie(
            name=name,
            value=value,
            expires_ms=expires_ms,
            path=path,
            domain=config.cookie_domain,
            secure=config.cookie_secure,
            same_site=config.cookie_same_site,
        )
        self._cookies.pop((name, path), None)
        self._cookies[(name, path)] = cookie

    # -- the SDK's mutators ----------------------------------------------------------------

    def set_token(self, refresh: bool, value: str, expires_ms: int, method: TransferMethod) -> None:
        """``_set_token``: a cookie (the refresh token only on the refresh path, so other
        requests never carry it) or an exposed ``st-*-token`` header."""
        if method == "header":
            name = REFRESH_TOKEN_HEADER if refresh else ACCESS_TOKEN_HEADER
            self.set_exposed_header(name, value)
        elif refresh:
            self.set_cookie(
                REFRESH_TOKEN_COOKIE, value, expires_ms, self._config.refresh_token_path
            )
        else:
            self.set_cookie(ACCESS_TOKEN_COOKIE, value, expires_ms, self._config.access_token_path)

    def set_access_token(self, access_token: str, front_token: str, method: TransferMethod) -> None:
        """``_set_access_token_in_response``: the front token, then the access token with a
        cookie lifetime of 100 years."""
        self.set_exposed_header(FRONT_TOKEN_HEADER, front_token)
        expires = self._now_ms + HUNDRED_YEARS_MS
        self.set_token(False, access_token, expires, method)
        if self._config.expose_access_token_to_frontend_in_cookie_based_auth and method == "cookie":
            self.set_token(False, access_token, expires, "header")

    def set_anti_csrf(self, value: str) -> None:
        self.set_exposed_header(ANTI_CSRF_HEADER, value)

    def clear_session(self, method: TransferMethod) -> None:
        """``_clear_session``: empty tokens with expiry 0, no anti-CSRF header,
        ``front-token: remove``."""
        self.set_token(False, "", 0, method)
        self.set_token(True, "", 0, method)
        self.remove_header(ANTI_CSRF_HEADER)
        self.set_exposed_header(FRONT_TOKEN_HEADER, "remove")

    def clear_session_from_all_token_transfer_methods(self) -> None:
        """Both methods, so that tokens an earlier step put on this response go too."""
        self.clear_session("cookie")
        self.clear_session("header")

    def clear_legacy_cookie(self) -> None:
        self.set_cookie(LEGACY_ID_REFRESH_TOKEN_COOKIE, "", 0, self._config.access_token_path)

    def items(self) -> tuple[Header, ...]:
        """Everything as ``(name, value)`` pairs, one ``set-cookie`` per cookie."""
        return (
            *self._headers.items(),
            *(("set-cookie", cookie.set_cookie_value()) for cookie in self._cookies.values()),
        )
