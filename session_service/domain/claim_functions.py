"""The recipe functions of claims: set, read, remove, fetch and validate the claims in a
session's access-token payload (supertokens-python 0.14.0's functions of those names)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import Any

from session_common.json_values import JSONObject
from session_common.token_format import PROTECTED_PROPS
from session_service.core_client import calls
from session_service.domain.arguments import ensure_json, json_object, required_str
from session_service.domain.claims import (
    claim_value_for_payload,
)
from session_service.domain.claims import get_claim_value as read_claim_value
from session_service.domain.claims import (
    validate_claims as run_validators,
)
from session_service.domain.errors import PROTECTED_CLAIMS, InvalidArgument
from session_service.domain.get_session import changed_keys
from session_service.domain.limits import MAX_CLAIM_VALUE_DEPTH, check_depth
from session_service.domain.messages import INVALID_CLAIMS_MESSAGE, SESSION_GONE_MESSAGE
from session_service.domain.recipe_parts import RecipeParts, time_left
from session_service.domain.session_claims import fetch_claim_value, should_refetch
from session_service.domain.session_functions import merge_payload
from session_service.domain.session_limits import check_servable
from session_service.domain.types import (
    ClaimError,
    ClaimsValidationResult,
    ClaimValidatorSpec,
    ClaimValueResult,
    Status,
    StatusResult,
)


async def set_claim_value(
    parts: RecipeParts,
    session_handle: str,
    claim_key: str,
    value: Any,
    *,
    user_context: JSONObject | None = None,
    timeout: float | None = None,  # noqa: ASYNC109
) -> StatusResult:
    """Merge ``{claim_key: {"v": value, "t": now_ms}}`` into the stored payload."""
    required_str("session_handle", session_handle)
    required_str("claim_key", claim_key)
    if claim_key in PROTECTED_PROPS:
        raise InvalidArgument("claim_key", f"must not be a protected claim ({PROTECTED_CLAIMS})")
    check_depth("value", value, MAX_CLAIM_VALUE_DEPTH)
    ensure_json("value", value)
    update = {claim_key: claim_value_for_payload(value, parts.clock.now_ms())}
    return await merge_payload(parts, session_handle, update, parts.core.deadline(timeout), "value")


async def get_claim_value(
    parts: RecipeParts,
    session_handle: str,
    claim_key: str,
    *,
    user_context: JSONObject | None = None,
    timeout: float | None = None,  # noqa: ASYNC109
) -> ClaimValueResult:
    required_str("session_handle", session_handle)
    required_str("claim_key", claim_key)
    info = await calls.session_information(
        parts.core, session_handle, deadline=parts.core.deadline(timeout)
    )
    if info is None:
        return ClaimValueResult(Status.SESSION_DOES_NOT_EXIST, SESSION_GONE_MESSAGE)
    check_servable(info)
    value = read_claim_value(info.custom_claims_in_access_token_payload, claim_key)
    return ClaimValueResult(Status.OK, value=value)


async def remove_claim(
    parts: RecipeParts,
    session_handle: str,
    claim_key: str,
    *,
    user_context: JSONObject | None = None,
    timeout: float | None = None,  # noqa: ASYNC109
) -> StatusResult:
    required_str("session_handle", session_handle)
    required_str("claim_key", claim_key)
    return await merge_payload(
        parts, session_handle, {claim_key: None}, parts.core.deadline(timeout), "claim_key"
    )


async def validate_claims_for_session_handle(
    parts: RecipeParts,
    session_handle: str,
    *,
    claim_validators: Sequence[ClaimValidatorSpec] = (),
    override_global_claim_validators: bool = False,
    user_context: JSONObject | None = None,
    timeout: float | None = None,  # noqa: ASYNC109
) -> ClaimsValidationResult:
    """SDK ``validate_claims_for_session_handle``: read the session, run ``validate_claims``
    on its stored (custom) payload, which fetches the values of defined claims that are
    missing or too old, and merge a changed payload into the stored one
    (``merge_into_access_token_payload``: tokens already issued keep their payload).
    SESSION_DOES_NOT_EXIST when the session is gone, before or at the merge.

    A stored payload past the nesting limit is INVALID_ARGUMENT on ``session_handle``
    (``check_servable``); fetched values the session cannot carry are not merged
    (``ClaimFetchFailed``, ``SessionLimits.check_fetched``)."""
    required_str("session_handle", session_handle)
    validators = parts.validators(claim_validators, override_global_claim_validators)
    context = {} if user_context is None else user_context
    deadline = parts.core.deadline(timeout)
    found = await parts.functions().get_session_information(
        session_handle, user_context=context, timeout=time_left(deadline)
    )
    if found.info is None:
        return ClaimsValidationResult(Status.SESSION_DOES_NOT_EXIST, SESSION_GONE_MESSAGE)
    info = found.info
    check_servable(info)
    stored = info.custom_claims_in_access_token_payload
    checked = await parts.functions().validate_claims(
        info.user_id, stored, validators, user_context=context, timeout=time_left(deadline)
    )
    update = checked.access_token_payload_update
    if update is not None:
        await parts.limits.check_fetched(
            changed_keys(stored, update), info.user_id, session_handle, update, deadline
        )
        merged = await parts.functions().merge_into_access_token_payload(
            session_handle, update, user_context=context, timeout=time_left(deadline)
        )
        if merged.status is not Status.OK:
            return ClaimsValidationResult(Status.SESSION_DOES_NOT_EXIST, SESSION_GONE_MESSAGE)
    return _without_update(checked)


async def validate_claims(
    parts: RecipeParts,
    user_id: str,
    access_token_payload: JSONObject,
    claim_validators: Sequence[ClaimValidatorSpec],
    *,
    user_context: JSONObject | None = None,
    timeout: float | None = None,  # noqa: ASYNC109
) -> ClaimsValidationResult:
    """SDK ``recipe_implementation.validate_claims``: for each validator in order whose
    key is a defined claim and whose ``should_refetch`` holds (the value is missing, or
    older than the validator's max age), fetch the value for ``user_id`` and, unless it is
    None, add it to the payload (``add_to_payload_``); a later validator of the same claim
    sees the fetched value. When the payload's JSON changed, the whole new payload is the
    result's ``access_token_payload_update`` (it is not merged here). Then every validator
    runs against the payload as updated: INVALID_CLAIMS with the failures in validator
    order, else OK. ``access_token_payload`` itself is not modified.

    Raises ``ClaimFetchFailed`` when a ``fetch_value`` raises.
    """
    context = {} if user_context is None else user_context
    validators = parts.claims.bind(claim_validators, "claim_validators")
    payload = access_token_payload
    if parts.claims:
        for spec in validators:
            claim = parts.claims.get(spec.key)
            max_age = spec.max_age_seconds or None  # the SDK's None: no age limit
            if claim is None or not should_refetch(claim, payload, max_age, parts.clock.now_ms()):
                continue
            value = await fetch_claim_value(claim, user_id, context)
            if value is not None:
                if payload is access_token_payload:
                    payload = dict(access_token_payload)
                claim.add_to_payload_(payload, value, context)
    update = None
    if payload is not access_token_payload and json.dumps(payload) != json.dumps(
        access_token_payload
    ):
        update = payload
    # The declarative validators (claims.validate_claims), on the updated payload.
    errors = run_validators(payload, validators, parts.clock.now_ms())
    return _claims_validation_result(errors, update)


async def validate_claims_in_jwt_payload(
    parts: RecipeParts,
    user_id: str,
    jwt_payload: JSONObject,
    *,
    claim_validators: Sequence[ClaimValidatorSpec] = (),
    override_global_claim_validators: bool = False,
    user_context: JSONObject | None = None,
    timeout: float | None = None,  # noqa: ASYNC109
) -> ClaimsValidationResult:
    """SDK ``validate_claims_in_jwt_payload``: the validators (the server-wide ones unless
    overridden, then ``claim_validators``) run against ``jwt_payload``, a payload the
    caller verified itself; nothing is fetched or merged. ``user_id`` is only passed on
    (override hooks see it). OK or INVALID_CLAIMS."""
    if not isinstance(user_id, str):
        raise InvalidArgument("user_id", "must be a string")
    payload = json_object("jwt_payload", jwt_payload)
    assert payload is not None
    validators = parts.validators(claim_validators, override_global_claim_validators)
    errors = run_validators(payload, validators, parts.clock.now_ms())
    return _claims_validation_result(errors)


async def fetch_and_set_claim(
    parts: RecipeParts,
    session_handle: str,
    claim_key: str,
    *,
    user_context: JSONObject | None = None,
    timeout: float | None = None,  # noqa: ASYNC109
) -> StatusResult:
    """SDK ``fetch_and_set_claim``: read the session, ``build`` the claim named
    ``claim_key`` (a claim of the claims module) for its user, and merge the result into
    the stored payload (``merge_into_access_token_payload``; a ``fetch_value`` that gives
    None merges nothing). OK, or SESSION_DOES_NOT_EXIST. A stored payload past the
    nesting limit is INVALID_ARGUMENT on ``session_handle``, as in
    validate_claims_for_session_handle; a value the session cannot carry is not merged
    (``ClaimFetchFailed``)."""
    required_str("session_handle", session_handle)
    required_str("claim_key", claim_key)
    claim = parts.claims.get(claim_key)
    if claim is None:
        raise InvalidArgument(
            "claim_key", f"no claim {claim_key!r} is defined (see --claims-module)"
        )
    context = {} if user_context is None else user_context
    deadline = parts.core.deadline(timeout)
    found = await parts.functions().get_session_information(
        session_handle, user_context=context, timeout=time_left(deadline)
    )
    if found.info is None:
        return StatusResult(Status.SESSION_DOES_NOT_EXIST, SESSION_GONE_MESSAGE)
    info = found.info
    check_servable(info)
    update = await claim.build(info.user_id, context)
    if update:
        merged = {**info.custom_claims_in_access_token_payload, **update}
        await parts.limits.check_fetched(
            [claim_key], info.user_id, session_handle, merged, deadline
        )
    return await parts.functions().merge_into_access_token_payload(
        session_handle, update, user_context=context, timeout=time_left(deadline)
    )


def _claims_validation_result(
    errors: Sequence[ClaimError], update: JSONObject | None = None
) -> ClaimsValidationResult:
    if errors:
        return ClaimsValidationResult(
            Status.INVALID_CLAIMS,
            INVALID_CLAIMS_MESSAGE,
            tuple(errors),
            access_token_payload_update=update,
        )
    return ClaimsValidationResult(Status.OK, access_token_payload_update=update)


def _without_update(checked: ClaimsValidationResult) -> ClaimsValidationResult:
    """A ``validate_claims`` result as the public functions give it (no payload update)."""
    return dataclasses.replace(checked, access_token_payload_update=None)
