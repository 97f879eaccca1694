"""The service's limits (nesting depth, access-token length) applied to sessions: what is
written is checked before it is written, and what was written past them through the core's
own API is refused when read (docs/security.md, "Limits")."""

from __future__ import annotations

from collections.abc import Sequence

from session_common.json_values import JSONObject
from session_service.domain.errors import InvalidArgument
from session_service.domain.key_cache import KeyCache
from session_service.domain.limits import access_token_length, longest_signing_key, too_deep
from session_service.domain.session_claims import ClaimFetchFailed
from session_service.domain.types import SessionInformation


class Unservable(Exception):
    """A verified access token whose payload nests deeper than the service can return:
    the session cannot be used through the service (UNAUTHORISED)."""


def check_payload(payload: JSONObject) -> None:
    """Raise ``Unservable`` for a verified token's payload past the nesting limit."""
    reason = too_deep(payload)
    if reason is not None:
        raise Unservable(f"the session's access-token payload {reason}")


def check_servable(info: SessionInformation, *, session_data: bool = False) -> None:
    """Refuse to read a session whose stored payload (or, with ``session_data``, its
    session data) was written past the service's nesting limit through the core's own API:
    the answer could not carry it. MergeIntoAccessTokenPayload and
    UpdateSessionDataInDatabase can replace it."""
    stored = [("access-token payload", info.custom_claims_in_access_token_payload)]
    if session_data:
        stored.append(("session data", info.session_data_in_database))
    for what, value in stored:
        reason = too_deep(value)
        if reason is not None:
            raise InvalidArgument("session_handle", f"the session's stored {what} {reason}")


class SessionLimits:
    """The checks that need the configured token length and the published signing keys."""

    def __init__(self, max_access_token_bytes: int, keys: KeyCache) -> None:
        self._max_bytes = max_access_token_bytes
        self._keys = keys

    def unusable(self, token: str | None, payload: JSONObject) -> str | None:
        """Why GetSession would refuse an access token the core just issued (or a payload
        it would carry), or None. Only a payload written through the core's own API can
        pass the limits: everything the service writes is checked before it is written."""
        limit = self._max_bytes
        if token is not None and len(token) > limit:
            return (
                f"the session's access token is {len(token)} bytes, more than the service's "
                f"limit of {limit} (max_access_token_bytes)"
            )
        reason = too_deep(payload)
        if reason is not None:
            return f"the session's access-token payload {reason}"
        return None

    async def check_token_length(
        self,
        field: str,
        user_id: str,
        session_handle: str,
        payload: JSONObject,
        deadline: float | None,
    ) -> None:
        """Refuse a payload with which a session's access tokens could be longer than the
        service accepts."""
        length = await self._longest_token(user_id, session_handle, payload, deadline)
        if length > self._max_bytes:
            raise InvalidArgument(field, self.too_long(length))

    async def check_fetched(
        self,
        fetched: Sequence[str],
        user_id: str,
        session_handle: str,
        payload: JSONObject,
        deadline: float | None,
    ) -> None:
        """Refuse the values of the ``fetched`` claims when ``payload``, the session's
        payload with them, would go past the service's limits (nesting, token length):
        nothing is written. ``ClaimFetchFailed`` (UNAVAILABLE, as for a ``fetch_value`` that
        fails): the values come from the claims module's source, not from the caller's
        request, so INVALID_ARGUMENT would blame the wrong party."""
        reason = too_deep(payload)
        if reason is None:
            length = await self._longest_token(user_id, session_handle, payload, deadline)
            if length <= self._max_bytes:
                return
            reason = self.too_long(length)
        values, them = ("a value", "it") if len(fetched) == 1 else ("values", "them")
        raise ClaimFetchFailed(
            fetched,
            f"returned {values} the session cannot carry, not stored: the payload with {them} "
            f"{reason}",
        )

    def too_long(self, length: int) -> str:
        return (
            f"makes the session's access tokens up to {length} bytes, more than the "
            f"service's limit of {self._max_bytes} (max_access_token_bytes)"
        )

    async def _longest_token(
        self, user_id: str, session_handle: str, payload: JSONObject, deadline: float | None
    ) -> int:
        """How long the session's access tokens could be with ``payload``, whichever
        published key signs them (``access_token_length``)."""
        kid, signature_bytes = longest_signing_key(await self._keys.get_jwks(deadline=deadline))
        return access_token_length(user_id, session_handle, payload, kid, signature_bytes)
