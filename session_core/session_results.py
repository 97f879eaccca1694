"""What ``CoreSessions`` returns: the parts of the replies of the session endpoints."""

from __future__ import annotations

from dataclasses import dataclass

from session_common.json_values import JSONObject
from session_core.access_token import EncodedAccessToken


@dataclass(frozen=True, slots=True)
class TokenInfo:
    token: str
    expiry: int  # ms
    created_time: int  # ms

    @staticmethod
    def of(encoded: EncodedAccessToken) -> TokenInfo:
        return TokenInfo(encoded.token, encoded.expiry_ms, encoded.created_time_ms)


@dataclass(frozen=True, slots=True)
class SessionSummary:
    handle: str
    user_id: str
    user_data_in_jwt: JSONObject


@dataclass(frozen=True, slots=True)
class NewSession:
    """The result of create and of refresh."""

    session: SessionSummary
    access_token: TokenInfo
    refresh_token: TokenInfo
    anti_csrf_token: str | None


@dataclass(frozen=True, slots=True)
class VerifiedSession:
    """The result of verify and of regenerate; ``access_token`` only when one was issued."""

    session: SessionSummary
    access_token: TokenInfo | None


@dataclass(frozen=True, slots=True)
class SessionInformation:
    session_handle: str
    user_id: str
    user_data_in_database: JSONObject
    user_data_in_jwt: JSONObject
    expiry: int
    time_created: int
