"""The core's replies read into typed values. A reply that lacks what CDI 2.21 promises (a
field missing or of the wrong type, an unknown status) is ``CoreUnavailable`` ("the core's
answer to ... is malformed"): the core cannot be used."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from session_common.json_values import JSONObject
from session_service.domain.errors import CoreUnavailable
from session_service.domain.types import Status, TokenInfo, TokenTheft


@dataclass(frozen=True, slots=True)
class Refusal:
    """A reply that is not OK: UNAUTHORISED, TRY_REFRESH_TOKEN (verify) or
    TOKEN_THEFT_DETECTED (refresh, with ``theft``); ``message`` is the core's."""

    status: Status
    message: str = ""
    theft: TokenTheft | None = None


@dataclass(frozen=True, slots=True)
class IssuedSession:
    """A create or refresh reply: the session and the tokens the core issued."""

    session_handle: str
    user_id: str
    access_token: TokenInfo
    refresh_token: TokenInfo
    anti_csrf_token: str | None


@dataclass(frozen=True, slots=True)
class VerifiedSession:
    """A verify reply: the session, its ``userDataInJWT``, and the access token the core
    issued (after a refresh, or a changed payload), if it did."""

    session_handle: str
    user_id: str
    user_data_in_jwt: JSONObject
    access_token: TokenInfo | None


def malformed(what: str) -> CoreUnavailable:
    return CoreUnavailable(f"the core's answer to {what} is malformed")


def value_of(body: Mapping[str, Any], key: str, kind: type | tuple[type, ...], what: str) -> Any:
    value = body.get(key)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise malformed(what)
    return value


def status_of(body: JSONObject, what: str) -> str:
    return str(value_of(body, "status", str, what))


def message_of(body: JSONObject) -> str:
    message = body.get("message")
    return message if isinstance(message, str) else ""


def ok_or_gone(reply: JSONObject, what: str) -> bool:
    status = status_of(reply, what)
    if status == "OK":
        return True
    if status == "UNAUTHORISED":
        return False
    raise malformed(what)


def token_info(value: object, what: str) -> TokenInfo:
    if not isinstance(value, dict):
        raise malformed(what)
    return TokenInfo(
        token=value_of(value, "token", str, what),
        expiry_ms=value_of(value, "expiry", int, what),
        created_time_ms=value_of(value, "createdTime", int, what),
    )


def session_object(body: JSONObject, what: str) -> tuple[str, str, JSONObject]:
    session = value_of(body, "session", dict, what)
    return (
        value_of(session, "handle", str, what),
        value_of(session, "userId", str, what),
        value_of(session, "userDataInJWT", dict, what),
    )


def issued_session(reply: JSONObject, what: str) -> IssuedSession:
    handle, user_id, _ = session_object(reply, what)
    access = token_info(reply.get("accessToken"), what)
    refresh = token_info(reply.get("refreshToken"), what)
    anti_csrf = reply.get("antiCsrfToken")
    if anti_csrf is not None and not isinstance(anti_csrf, str):
        raise malformed(what)
    return IssuedSession(handle, user_id, access, refresh, anti_csrf)


@dataclass(frozen=True, slots=True)
class Revocation:
    """One entry of the core's revocation feed: a removed session, when it was removed, and
    the moment after which no access token of it can still be valid (epoch ms)."""

    session_handle: str
    revoked_at_ms: int
    valid_until_ms: int


@dataclass(frozen=True, slots=True)
class RevocationPage:
    """An answer of the revocation feed: entries oldest first, the cursor to ask from next,
    and whether more entries are ready at once."""

    revocations: tuple[Revocation, ...]
    cursor: str
    more: bool


def revocation_page(reply: JSONObject) -> RevocationPage:
    what = "session/revocations"
    if status_of(reply, what) != "OK":
        raise malformed(what)
    entries = value_of(reply, "revocations", list, what)
    revocations = []
    for entry in entries:
        if not isinstance(entry, dict):
            raise malformed(what)
        revocations.append(
            Revocation(
                value_of(entry, "sessionHandle", str, what),
                value_of(entry, "revokedAt", int, what),
                value_of(entry, "validUntil", int, what),
            )
        )
    cursor = value_of(reply, "cursor", str, what)
    more = value_of(reply, "more", bool, what)
    return RevocationPage(tuple(revocations), cursor, more)
