"""Typed results of the clients' calls.

Every result carries a ``status``; where an RPC has more than one outcome the caller must
branch on it, and the payload fields are only meaningful for the statuses their docs name.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from session_client._pb.session.v1 import session_service_pb2 as pb
from session_client._struct import JSONObject, to_dict


class SessionStatus(enum.Enum):
    """``session.v1.SessionStatus``. ``UNKNOWN`` stands for a value this client does not
    know (proto3 enums are open): treat it as a failure."""

    UNKNOWN = 0
    OK = pb.SESSION_STATUS_OK
    UNAUTHORISED = pb.SESSION_STATUS_UNAUTHORISED
    TRY_REFRESH_TOKEN = pb.SESSION_STATUS_TRY_REFRESH_TOKEN
    TOKEN_THEFT_DETECTED = pb.SESSION_STATUS_TOKEN_THEFT_DETECTED
    INVALID_CLAIMS = pb.SESSION_STATUS_INVALID_CLAIMS
    SESSION_DOES_NOT_EXIST = pb.SESSION_STATUS_SESSION_DOES_NOT_EXIST
    UNSUPPORTED_ALGORITHM = pb.SESSION_STATUS_UNSUPPORTED_ALGORITHM
    NO_SESSION = pb.SESSION_STATUS_NO_SESSION

    @classmethod
    def from_pb(cls, value: int) -> SessionStatus:
        try:
            return cls(value)
        except ValueError:
            return cls.UNKNOWN

    @classmethod
    def of_single_outcome(cls, value: int) -> SessionStatus:
        """The status of a response whose RPC has no outcome but OK (CreateSession, the
        handle lists, GetJWKS, the discovery document): a service older than that status
        field leaves it unset (0), and that means OK too."""
        return cls.OK if value == pb.SESSION_STATUS_UNSPECIFIED else cls.from_pb(value)


@dataclass(frozen=True)
class TokenInfo:
    """A token with its expiry and creation time (epoch ms)."""

    token: str = field(repr=False)
    expiry: int
    created_time: int

    @classmethod
    def from_pb(cls, message: pb.TokenInfo) -> TokenInfo:
        return cls(token=message.token, expiry=message.expiry, created_time=message.created_time)


@dataclass(frozen=True)
class Session:
    """A verified session and its current access token (``expiry`` in epoch ms)."""

    user_id: str
    session_handle: str
    access_token_payload: JSONObject
    expiry: int
    front_token: str = field(repr=False)
    access_token: str = field(repr=False)

    @classmethod
    def from_pb(cls, message: pb.Session) -> Session:
        return cls(
            user_id=message.user_id,
            session_handle=message.session_handle,
            access_token_payload=to_dict(message.access_token_payload),
            expiry=message.expiry,
            front_token=message.front_token,
            access_token=message.access_token,
        )


@dataclass(frozen=True)
class ClaimValidationError:
    """A failed claim validator; ``reason`` is the SDK's reason dict (None when absent)."""

    id: str
    reason: JSONObject | None

    @classmethod
    def from_pb(cls, message: pb.ClaimValidationError) -> ClaimValidationError:
        reason = to_dict(message.reason) if message.HasField("reason") else None
        return cls(id=message.id, reason=reason)


def _claim_errors(messages: Sequence[pb.ClaimValidationError]) -> tuple[ClaimValidationError, ...]:
    return tuple(ClaimValidationError.from_pb(m) for m in messages)


@dataclass(frozen=True)
class CreatedSession:
    """CreateSession: always OK and a new session (failures raise ``grpc.RpcError``)."""

    status: SessionStatus
    session: Session
    access_token: TokenInfo
    refresh_token: TokenInfo
    anti_csrf_token: str | None = field(repr=False)

    @classmethod
    def from_pb(cls, message: pb.CreateSessionResponse) -> CreatedSession:
        return cls(
            status=SessionStatus.of_single_outcome(message.status),
            session=Session.from_pb(message.session),
            access_token=TokenInfo.from_pb(message.access_token),
            refresh_token=TokenInfo.from_pb(message.refresh_token),
            anti_csrf_token=(
                message.anti_csrf_token if message.HasField("anti_csrf_token") else None
            ),
        )


@dataclass(frozen=True)
class GetSessionResult:
    """OK / UNAUTHORISED / TRY_REFRESH_TOKEN / INVALID_CLAIMS / NO_SESSION.

    ``session`` is set for OK and INVALID_CLAIMS; ``new_access_token`` whenever the core
    issued one (hand it to the client).
    """

    status: SessionStatus
    message: str
    session: Session | None
    new_access_token: TokenInfo | None
    invalid_claims: tuple[ClaimValidationError, ...]

    @classmethod
    def from_pb(cls, message: pb.GetSessionResponse) -> GetSessionResult:
        return cls(
            status=SessionStatus.from_pb(message.status),
            message=message.message,
            session=Session.from_pb(message.session) if message.HasField("session") else None,
            new_access_token=(
                TokenInfo.from_pb(message.new_access_token)
                if message.HasField("new_access_token")
                else None
            ),
            invalid_claims=_claim_errors(message.invalid_claims),
        )


@dataclass(frozen=True)
class TokenTheft:
    session_handle: str
    user_id: str


@dataclass(frozen=True)
class RefreshSessionResult:
    """OK (new tokens) / UNAUTHORISED / TOKEN_THEFT_DETECTED (``token_theft`` set)."""

    status: SessionStatus
    message: str
    session: Session | None
    access_token: TokenInfo | None
    refresh_token: TokenInfo | None
    anti_csrf_token: str | None = field(repr=False)
    token_theft: TokenTheft | None

    @classmethod
    def from_pb(cls, message: pb.RefreshSessionResponse) -> RefreshSessionResult:
        theft = message.token_theft if message.HasField("token_theft") else None
        return cls(
            status=SessionStatus.from_pb(message.status),
            message=message.message,
            session=Session.from_pb(message.session) if message.HasField("session") else None,
            access_token=(
                TokenInfo.from_pb(message.access_token)
                if message.HasField("access_token")
                else None
            ),
            refresh_token=(
                TokenInfo.from_pb(message.refresh_token)
                if message.HasField("refresh_token")
                else None
            ),
            anti_csrf_token=(
                message.anti_csrf_token if message.HasField("anti_csrf_token") else None
            ),
            token_theft=(
                None
                if theft is None
                else TokenTheft(session_handle=theft.session_handle, user_id=theft.user_id)
            ),
        )


@dataclass(frozen=True)
class SessionHandlesResult:
    """RevokeAllSessionsForUser, RevokeMultipleSessions, GetAllSessionHandlesForUser: always
    OK, with the handles revoked or listed."""

    status: SessionStatus
    session_handles: tuple[str, ...]

    @classmethod
    def from_pb(
        cls,
        message: (
            pb.RevokeAllSessionsForUserResponse
            | pb.RevokeMultipleSessionsResponse
            | pb.GetAllSessionHandlesForUserResponse
        ),
    ) -> SessionHandlesResult:
        return cls(
            status=SessionStatus.of_single_outcome(message.status),
            session_handles=tuple(message.session_handles),
        )


@dataclass(frozen=True)
class StatusResult:
    """OK or SESSION_DOES_NOT_EXIST (the SDK's True / False)."""

    status: SessionStatus
    message: str


@dataclass(frozen=True)
class SessionInformation:
    """What the core stores about a session (``expiry``, ``time_created``: epoch ms)."""

    session_handle: str
    user_id: str
    session_data_in_database: JSONObject
    expiry: int
    custom_claims_in_access_token_payload: JSONObject
    time_created: int


@dataclass(frozen=True)
class SessionInformationResult:
    """OK with ``info``, or SESSION_DOES_NOT_EXIST."""

    status: SessionStatus
    message: str
    info: SessionInformation | None

    @classmethod
    def from_pb(cls, message: pb.GetSessionInformationResponse) -> SessionInformationResult:
        info = None
        if message.HasField("session_information"):
            raw = message.session_information
            info = SessionInformation(
                session_handle=raw.session_handle,
                user_id=raw.user_id,
                session_data_in_database=to_dict(raw.session_data_in_database),
                expiry=raw.expiry,
                custom_claims_in_access_token_payload=to_dict(
                    raw.custom_claims_in_access_token_payload
                ),
                time_created=raw.time_created,
            )
        return cls(status=SessionStatus.from_pb(message.status), message=message.message, info=info)


@dataclass(frozen=True)
class RegenerateAccessTokenResult:
    """OK / UNAUTHORISED / TRY_REFRESH_TOKEN. For OK, ``access_token`` is None when the
    old token had already expired (the payload is stored anyway)."""

    status: SessionStatus
    message: str
    session_handle: str
    user_id: str
    user_data_in_jwt: JSONObject
    access_token: TokenInfo | None

    @classmethod
    def from_pb(cls, message: pb.RegenerateAccessTokenResponse) -> RegenerateAccessTokenResult:
        return cls(
            status=SessionStatus.from_pb(message.status),
            message=message.message,
            session_handle=message.session.session_handle,
            user_id=message.session.user_id,
            user_data_in_jwt=to_dict(message.session.user_data_in_jwt),
            access_token=(
                TokenInfo.from_pb(message.access_token)
                if message.HasField("access_token")
                else None
            ),
        )


@dataclass(frozen=True)
class ClaimValueResult:
    """OK with ``value`` (None when the claim is not set), or SESSION_DOES_NOT_EXIST."""

    status: SessionStatus
    message: str
    value: Any


@dataclass(frozen=True)
class ClaimsValidationResult:
    """OK / INVALID_CLAIMS (``invalid_claims`` set) / SESSION_DOES_NOT_EXIST (by handle)."""

    status: SessionStatus
    message: str
    invalid_claims: tuple[ClaimValidationError, ...]

    @classmethod
    def from_pb(
        cls,
        message: pb.ValidateClaimsForSessionHandleResponse | pb.ValidateClaimsInJwtPayloadResponse,
    ) -> ClaimsValidationResult:
        return cls(
            status=SessionStatus.from_pb(message.status),
            message=message.message,
            invalid_claims=_claim_errors(message.invalid_claims),
        )


@dataclass(frozen=True)
class JsonWebKey:
    kty: str
    kid: str
    n: str
    e: str
    alg: str
    use: str


@dataclass(frozen=True)
class JwksResult:
    """GetJWKS: always OK, with the public keys (dynamic keys newest first, then static)."""

    status: SessionStatus
    keys: tuple[JsonWebKey, ...]

    @classmethod
    def from_pb(cls, message: pb.GetJWKSResponse) -> JwksResult:
        return cls(
            status=SessionStatus.of_single_outcome(message.status),
            keys=tuple(
                JsonWebKey(kty=k.kty, kid=k.kid, n=k.n, e=k.e, alg=k.alg, use=k.use)
                for k in message.keys
            ),
        )


@dataclass(frozen=True)
class CreateJwtResult:
    """OK with ``jwt``, or UNSUPPORTED_ALGORITHM."""

    status: SessionStatus
    message: str
    jwt: str = field(repr=False)


@dataclass(frozen=True)
class OpenIdDiscoveryConfiguration:
    """GetOpenIdDiscoveryConfiguration: always OK."""

    status: SessionStatus
    issuer: str
    jwks_uri: str

    @classmethod
    def from_pb(
        cls, message: pb.GetOpenIdDiscoveryConfigurationResponse
    ) -> OpenIdDiscoveryConfiguration:
        return cls(
            status=SessionStatus.of_single_outcome(message.status),
            issuer=message.issuer,
            jwks_uri=message.jwks_uri,
        )
