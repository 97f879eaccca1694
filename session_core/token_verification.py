"""An access token's signature and expiry, checked as the SuperTokens core's
``/recipe/session/verify`` checks them (``io.supertokens.session.accessToken.AccessToken``):
every failure is TRY_REFRESH_TOKEN."""

from __future__ import annotations

from session_common.clock import Clock
from session_core.access_token import AccessTokenFormatError, ParsedAccessToken, parse_access_token
from session_core.errors import (
    ACCESS_TOKEN_EXPIRED,
    KEY_NOT_FOUND,
    SIGNATURE_FAILED,
    TryRefreshTokenError,
)
from session_core.signing_keys import SigningKeyManager


async def verified_access_token(
    token: str, keys: SigningKeyManager, clock: Clock
) -> ParsedAccessToken:
    """``token`` parsed, its signature checked against ``keys`` and its expiry against
    ``clock``. A v3 token names its key; a v1/v2 token names none, so every key is tried,
    then once more after a reload from the database (which anyone can trigger with a forged
    token, hence at most once per cooldown)."""
    try:
        parsed = parse_access_token(token)
    except AccessTokenFormatError as exc:
        raise TryRefreshTokenError(str(exc)) from None
    if parsed.kid is not None:
        key = await keys.find_key(parsed.kid)
        if key is None:
            raise TryRefreshTokenError(KEY_NOT_FOUND)
        if not key.verify(parsed.signature, parsed.signing_input):
            raise TryRefreshTokenError(SIGNATURE_FAILED)
    elif not _any_key_verifies(parsed, keys) and (
        not await keys.reload_unless_recent() or not _any_key_verifies(parsed, keys)
    ):
        raise TryRefreshTokenError(SIGNATURE_FAILED)
    if parsed.info.expiry_ms < clock.now_ms():
        raise TryRefreshTokenError(ACCESS_TOKEN_EXPIRED)
    return parsed


def _any_key_verifies(parsed: ParsedAccessToken, keys: SigningKeyManager) -> bool:
    return any(k.verify(parsed.signature, parsed.signing_input) for k in keys.verification_keys())
