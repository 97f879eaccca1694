"""Requests to ``HttpSessions`` and what their answers change in the response: the cookies,
the exact ``Set-Cookie`` strings, the headers of cleared tokens."""

from __future__ import annotations

from email.utils import formatdate
from typing import Any

from session_client import SessionClient
from session_client.http import (
    HttpConfig,
    HttpError,
    HttpOk,
    HttpRequest,
    HttpResult,
    HttpSessions,
    RequestSession,
    ResponseChanges,
)

from session_common.clock import ManualClock

REFRESH_VALIDITY_MS = 144_000 * 60 * 1000  # the core's default: 100 days
EPOCH = "Thu, 01 Jan 1970 00:00:00 GMT"
ATTRS = "HttpOnly; SameSite=Lax"


def http_date(ms: int) -> str:
    return formatdate(ms // 1000, usegmt=True)


def request(method: str = "GET", **headers: str) -> HttpRequest:
    return HttpRequest(method, {name.replace("_", "-"): value for name, value in headers.items()})


def cookies_of(response: ResponseChanges) -> dict[str, str]:
    return {c.name: c.value for c in response.cookies}


def set_cookies(response: ResponseChanges) -> list[str]:
    return [value for name, value in response.header_items() if name == "set-cookie"]


def ok(result: HttpResult[Any]) -> Any:
    assert isinstance(result, HttpOk), result
    return result.value


def error(result: HttpResult[Any]) -> HttpError:
    assert isinstance(result, HttpError), result
    return result


CLEARED_HEADERS = {
    "st-access-token": "",
    "st-refresh-token": "",
    "front-token": "remove",
    "access-control-expose-headers": "front-token, st-access-token, st-refresh-token",
}
CLEARED_COOKIES = [
    f"sAccessToken=; Path=/; Expires={EPOCH}; {ATTRS}",
    f"sRefreshToken=; Path=/auth/session/refresh; Expires={EPOCH}; {ATTRS}",
]


def http_sessions(client: SessionClient, clock: ManualClock, **config: Any) -> HttpSessions:
    config.setdefault("anti_csrf", "VIA_TOKEN")
    return HttpSessions(client, HttpConfig(**config), clock=lambda: clock.now_ms() / 1000)


async def sign_in_with_cookies(
    sessions: HttpSessions, user_id: str = "alice"
) -> tuple[RequestSession, ResponseChanges]:
    created = await sessions.create_new_session(
        request("POST", st_auth_mode="cookie"), user_id, {"role": "admin"}
    )
    return created.value, created.response
