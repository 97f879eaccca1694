"""What the request layer is configured with (``HttpConfig``) and what its operations return:
``HttpOk`` with the session, or ``HttpError`` with the SDK's status code and body."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, Literal, TypeVar

from session_client._struct import JSONObject
from session_client.http._transport import (
    DEFAULT_REFRESH_TOKEN_PATH,
    ResponseChanges,
    SameSite,
    TokenTransferMethodChooser,
    TransferMethod,
    default_token_transfer_method,
)
from session_client.types import Session, SessionStatus

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
AntiCsrf = Literal["NONE", "VIA_TOKEN", "VIA_CUSTOM_HEADER"]


@dataclass(frozen=True)
class HttpConfig:
    """The SDK's session config, as far as HTTP goes.

    ``anti_csrf`` must match the service's ``--anti-csrf`` (for VIA_CUSTOM_HEADER, run the
    service with NONE). ``api_domain`` and ``website_domain`` only serve the SDK's refusal of
    insecure ``SameSite=None`` cookies outside localhost/IP setups."""

    refresh_token_path: str = DEFAULT_REFRESH_TOKEN_PATH
    cookie_domain: str | None = None
    cookie_secure: bool = False
    cookie_same_site: SameSite = "lax"
    anti_csrf: AntiCsrf = "NONE"
    expose_access_token_to_frontend_in_cookie_based_auth: bool = False
    get_token_transfer_method: TokenTransferMethodChooser = default_token_transfer_method
    api_domain: str | None = None
    website_domain: str | None = None

    def __post_init__(self) -> None:
        if self.cookie_same_site not in ("lax", "strict", "none"):
            raise ValueError('cookie same site must be one of "strict", "lax", or "none"')
        if self.anti_csrf not in ("NONE", "VIA_TOKEN", "VIA_CUSTOM_HEADER"):
            raise ValueError("anti_csrf must be one of VIA_TOKEN, VIA_CUSTOM_HEADER or NONE")


@dataclass(frozen=True)
class RequestSession:
    """A session created, verified or refreshed in a request, and how its tokens travel
    (responses to this client use the same method)."""

    session: Session
    transfer_method: TransferMethod

    @property
    def user_id(self) -> str:
        return self.session.user_id

    @property
    def session_handle(self) -> str:
        return self.session.session_handle

    @property
    def access_token_payload(self) -> JSONObject:
        return self.session.access_token_payload


@dataclass(frozen=True)
class HttpOk(Generic[T_co]):
    """Success: apply ``response`` and go on with ``value``."""

    value: T_co
    response: ResponseChanges
    ok: Literal[True] = field(default=True, init=False)


@dataclass(frozen=True)
class HttpError:
    """An outcome the SDK answers with ``http_status`` and the JSON ``body`` (its default
    error handlers), after applying ``response``. ``status`` is UNAUTHORISED,
    TRY_REFRESH_TOKEN, TOKEN_THEFT_DETECTED or INVALID_CLAIMS; ``reason`` is for server logs
    and holds no token material."""

    status: SessionStatus
    http_status: int
    body: JSONObject
    reason: str
    response: ResponseChanges
    ok: Literal[False] = field(default=False, init=False)


HttpResult = HttpOk[T] | HttpError
"""Branch on ``result.ok`` (or ``isinstance``) before using ``result.value``."""


class UnexpectedStatusError(Exception):
    """The service answered with a status this operation cannot have (a newer service?)."""
