"""``get_session``: supertokens-python 0.14.0's algorithm
(``supertokens_python.recipe.session.session_functions.get_session`` and the recipe's
``get_session``), then the claim validation its ``get_session_without_request_response``
runs (``Session.assert_claims``)."""

from __future__ import annotations

import dataclasses
import hmac
import json
from collections.abc import Sequence

from session_common.json_values import JSONObject
from session_common.token_format import PROTECTED_PROPS
from session_service.core_client import calls
from session_service.core_client.replies import Refusal, malformed
from session_service.domain.access_token import build_front_token, issued_payload
from session_service.domain.messages import (
    ANTI_CSRF_FAILED_MESSAGE,
    ANTI_CSRF_MISSING_MESSAGE,
    INVALID_CLAIMS_MESSAGE,
    KEY_MODE_MESSAGE,
    NO_SESSION_MESSAGE,
    NO_TOKEN_MESSAGE,
    PARSE_FAILED_MESSAGE,
    SESSION_ENDED_MESSAGE,
    SESSION_REVOKED_MESSAGE,
)
from session_service.domain.recipe_parts import RecipeParts, time_left
from session_service.domain.session_limits import Unservable
from session_service.domain.token_check import CheckedToken
from session_service.domain.token_parsing import TokenParseError, parse_access_token
from session_service.domain.types import ClaimValidatorSpec, Session, SessionResult, Status
from session_service.domain.verifier import (
    TokenVerificationError,
    VerifiedAccessToken,
    require_anti_csrf,
)


async def get_session(
    parts: RecipeParts,
    access_token: str | None,
    *,
    anti_csrf_token: str | None = None,
    anti_csrf_check: bool = True,
    session_required: bool = True,
    check_database: bool = False,
    claim_validators: Sequence[ClaimValidatorSpec] = (),
    override_global_claim_validators: bool = False,
    user_context: JSONObject | None = None,
    timeout: float | None = None,  # noqa: ASYNC109
) -> SessionResult:
    """OK / UNAUTHORISED / TRY_REFRESH_TOKEN / INVALID_CLAIMS / NO_SESSION: the SDK's
    ``get_session`` algorithm.

    Claim validators run last, as the SDK's ``get_session_without_request_response``
    runs ``Session.assert_claims``: a value of a defined claim that is missing or too old
    is fetched first and merged into the session, whose new access token the result
    carries (``_assert_claims``).
    """
    validators = parts.validators(claim_validators, override_global_claim_validators)
    if not access_token:
        if not session_required:
            return SessionResult(Status.NO_SESSION, NO_SESSION_MESSAGE)
        return SessionResult(Status.UNAUTHORISED, NO_TOKEN_MESSAGE)
    deadline = parts.core.deadline(timeout)
    try:
        token = await parts.tokens.check(access_token, deadline)
    except TokenParseError:
        if not session_required:
            return SessionResult(Status.NO_SESSION, NO_SESSION_MESSAGE)
        return SessionResult(Status.UNAUTHORISED, PARSE_FAILED_MESSAGE)
    except TokenVerificationError as exc:
        # A v3 token that fails locally is never sent to the core; the kid-driven key
        # refetch makes that safe.
        return SessionResult(Status.TRY_REFRESH_TOKEN, str(exc))
    except Unservable as exc:
        return SessionResult(Status.UNAUTHORISED, str(exc))

    check_csrf = parts.via_token and anti_csrf_check
    verified = token.verified
    if check_csrf and verified is not None:
        try:
            require_anti_csrf(verified)
        except TokenVerificationError as exc:
            if token.version >= 3:
                return SessionResult(Status.TRY_REFRESH_TOKEN, str(exc))
            verified = None  # legacy v2 tokens go to the core (SDK 0.14.0 quirk)

    if token.version >= 3:
        assert token.kid is not None
        if token.kid.startswith("d-") != parts.config.use_dynamic_access_token_signing_key:
            return SessionResult(Status.TRY_REFRESH_TOKEN, KEY_MODE_MESSAGE)

    if check_csrf and verified is not None:
        if anti_csrf_token is None:
            return SessionResult(Status.TRY_REFRESH_TOKEN, ANTI_CSRF_MISSING_MESSAGE)
        assert verified.anti_csrf_token is not None  # checked by require_anti_csrf()
        if not _same_secret(anti_csrf_token, verified.anti_csrf_token):
            return SessionResult(Status.TRY_REFRESH_TOKEN, ANTI_CSRF_FAILED_MESSAGE)

    # Where the SDK would ask the core: a session the revocation feed reported revoked gets
    # the core's answer to it without the call, and in fail-safe (docs/revocation.md) every
    # token goes to the core while the feed lags.
    revocations = parts.revocations
    if verified is not None and revocations.revoked(verified.session_handle):
        return SessionResult(Status.UNAUTHORISED, SESSION_REVOKED_MESSAGE)
    check_database = check_database or revocations.check_core
    cached = token.cached
    if verified is not None and not check_database and verified.parent_refresh_token_hash_1 is None:
        if cached is None:
            session = _session_from_token(access_token, verified, anti_csrf_token)
        elif anti_csrf_token is None:
            # The session of a cached token, the same on every such request.
            if not validators:
                return cached.ok
            session = cached.session
        else:
            session = dataclasses.replace(cached.session, anti_csrf_token=anti_csrf_token)
    else:
        outcome = await _verify_with_core(
            parts,
            access_token,
            token,
            verified,
            anti_csrf_token=anti_csrf_token,
            anti_csrf_check=anti_csrf_check,
            check_database=check_database,
            deadline=deadline,
        )
        if isinstance(outcome, SessionResult):
            return outcome
        session = outcome

    if not validators:
        return SessionResult(Status.OK, session=session)
    return await _assert_claims(parts, session, validators, user_context, deadline)


async def _verify_with_core(
    parts: RecipeParts,
    access_token: str,
    token: CheckedToken,
    verified: VerifiedAccessToken | None,
    *,
    anti_csrf_token: str | None,
    anti_csrf_check: bool,
    check_database: bool,
    deadline: float | None,
) -> Session | SessionResult:
    """The core's verification (``POST /recipe/session/verify``), where the SDK's
    ``session_functions.get_session`` asks the core; the session's payload and expiry as the
    SDK's ``RecipeImplementation.get_session`` builds them: a v3 token's full payload (the new
    token's when the core issued one), a v2 token's ``userDataInJWT``."""
    reply = await calls.verify_session(
        parts.core,
        access_token=access_token,
        anti_csrf_token=anti_csrf_token,
        do_anti_csrf_check=anti_csrf_check,
        enable_anti_csrf=parts.via_token,
        check_database=check_database,
        deadline=deadline,
    )
    if isinstance(reply, Refusal):
        return SessionResult(reply.status, reply.message)
    handle, user_id, user_data = reply.session_handle, reply.user_id, reply.user_data_in_jwt
    token_info = reply.access_token
    if token_info is not None:
        expiry_ms = token_info.expiry_ms
    elif verified is not None:
        expiry_ms = verified.expiry_ms
    else:
        expiry_ms = token.payload["expiryTime"]  # v2: checked by the structure check
    if token.version < 3:
        payload = user_data
    elif token_info is not None:
        payload = issued_payload(token_info.token, "verify")
    else:
        payload = token.payload
    refusal = parts.limits.unusable(None if token_info is None else token_info.token, payload)
    if refusal is not None:
        return SessionResult(Status.UNAUTHORISED, refusal)
    return Session(
        session_handle=handle,
        user_id=user_id,
        access_token_payload=payload,
        access_token=token_info.token if token_info is not None else access_token,
        access_token_expiry_ms=expiry_ms,
        front_token=build_front_token(user_id, expiry_ms, payload),
        new_access_token=token_info,
        anti_csrf_token=anti_csrf_token,
    )


def _session_from_token(
    access_token: str, verified: VerifiedAccessToken, anti_csrf_token: str | None
) -> Session:
    payload = verified.user_data
    return Session(
        session_handle=verified.session_handle,
        user_id=verified.user_id,
        access_token_payload=payload,
        access_token=access_token,
        access_token_expiry_ms=verified.expiry_ms,
        front_token=build_front_token(verified.user_id, verified.expiry_ms, payload),
        anti_csrf_token=anti_csrf_token,
    )


async def _assert_claims(
    parts: RecipeParts,
    session: Session,
    validators: Sequence[ClaimValidatorSpec],
    user_context: JSONObject | None,
    deadline: float | None,
) -> SessionResult:
    """SDK ``Session.assert_claims``: ``validate_claims`` on the session's payload; an
    update (claims were fetched) loses the protected claims and, unless the session could
    not carry it (``SessionLimits.check_fetched``), is merged into the session
    (``_merge_into_session``); then INVALID_CLAIMS when any validator failed.
    A session with a new access token comes back with every outcome but UNAUTHORISED and
    TRY_REFRESH_TOKEN, so the token is not lost."""
    context = {} if user_context is None else user_context
    checked = await parts.functions().validate_claims(
        session.user_id,
        session.access_token_payload,
        validators,
        user_context=context,
        timeout=time_left(deadline),
    )
    update = checked.access_token_payload_update
    if update is not None:
        kept = {key: value for key, value in update.items() if key not in PROTECTED_PROPS}
        await parts.limits.check_fetched(
            changed_keys(session.access_token_payload, kept),
            session.user_id,
            session.session_handle,
            {key: value for key, value in kept.items() if value is not None},
            deadline,
        )
        merged = await _merge_into_session(parts, session, kept, context, deadline)
        if isinstance(merged, SessionResult):
            return merged
        session = merged
    if checked.invalid_claims:
        return SessionResult(
            Status.INVALID_CLAIMS,
            INVALID_CLAIMS_MESSAGE,
            session=session,
            invalid_claims=checked.invalid_claims,
        )
    return SessionResult(Status.OK, session=session)


async def _merge_into_session(
    parts: RecipeParts,
    session: Session,
    update: JSONObject,
    user_context: JSONObject,
    deadline: float | None,
) -> Session | SessionResult:
    """SDK ``Session.merge_into_access_token_payload``: the session's payload without the
    protected claims, with ``update`` merged in (None values remove keys), goes to
    ``regenerate_access_token`` with the session's access token. The core's new token
    becomes the session's, with its payload and front token; when the old token had
    expired meanwhile (no new token), only the payload is updated. The session gone:
    UNAUTHORISED "Session does not exist anymore."."""
    payload = {
        key: value
        for key, value in session.access_token_payload.items()
        if key not in PROTECTED_PROPS
    }
    payload.update(update)
    for key, value in update.items():
        if value is None:
            del payload[key]
    regenerated = await parts.functions().regenerate_access_token(
        session.access_token, payload, user_context=user_context, timeout=time_left(deadline)
    )
    if regenerated.status is Status.UNAUTHORISED:
        return SessionResult(Status.UNAUTHORISED, SESSION_ENDED_MESSAGE)
    result = regenerated.result
    if regenerated.status is not Status.OK or result is None:
        return SessionResult(regenerated.status, regenerated.message)
    token = result.new_access_token
    if token is None:
        return dataclasses.replace(
            session,
            access_token_payload={
                **session.access_token_payload,
                **result.access_token_payload,
            },
        )
    try:
        parsed = parse_access_token(token.token, max_length=len(token.token))
    except TokenParseError:
        raise malformed("regenerate") from None
    new_payload = parsed.payload if parsed.version >= 3 else result.access_token_payload
    return Session(
        session_handle=session.session_handle,
        user_id=session.user_id,
        access_token_payload=new_payload,
        access_token=token.token,
        access_token_expiry_ms=token.expiry_ms,
        front_token=build_front_token(session.user_id, token.expiry_ms, new_payload),
        new_access_token=token,
        anti_csrf_token=session.anti_csrf_token,
    )


def _same_secret(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


def changed_keys(before: JSONObject, after: JSONObject) -> list[str]:
    """The keys ``after`` adds or changes (by their JSON, as ``validate_claims`` tells
    whether the payload changed): the claims whose values were fetched."""
    return [
        key
        for key, value in after.items()
        if key not in before or json.dumps(before[key]) != json.dumps(value)
    ]
