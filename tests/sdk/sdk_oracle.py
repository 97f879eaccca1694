"""supertokens-python 0.14.0 as an oracle: one SDK call per request, for the parity tests.

Runs inside the SDK's own virtual environment and imports nothing from this project but
``sdk_app``. Usage, from the repository root: ``python -m tests.sdk.sdk_oracle <core-url>
[<use-dynamic-signing-key: true|false>]``. Reads one JSON
request per line on stdin, ``{"op": <name>, "now_ms": <int or null>, ...arguments}``, and
writes one JSON answer per line on stdout: the SDK's outcome in the service's vocabulary
(``status`` is the SessionStatus name the SDK's result or exception stands for), or
``{"status": "RAISED", "raised": <exception class>}`` when the SDK raises something that is
no session outcome (its answer to input it has no rule for).

Time: the SDK reads the clock through ``supertokens_python.utils.get_timestamp_ms``, imported
by name into the modules that use it (token expiry, the JWKS cache, the claim validators).
``now_ms`` replaces that function in exactly those modules with the test's clock, so that the
SDK and the service, whose clock the test also sets, judge ages and expiries at the same
instant. Nothing else of the SDK is touched; PyJWT keeps the wall clock (tokens are valid for
an hour, the tests move the clock by minutes).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any

os.environ["SUPERTOKENS_ENV"] = "testing"  # makes ProcessState record core calls

from supertokens_python.process_state import AllowedProcessStates, ProcessState
from supertokens_python.recipe.session import access_token, jwks
from supertokens_python.recipe.session import asyncio as st
from supertokens_python.recipe.session.claim_base_classes import (
    primitive_array_claim,
    primitive_claim,
)
from supertokens_python.recipe.session.claims import PrimitiveArrayClaim, PrimitiveClaim
from supertokens_python.recipe.session.interfaces import SessionDoesNotExistError
from supertokens_python.utils import get_timestamp_ms

from tests.sdk.sdk_app import init_sdk

JSON = dict[str, Any]

_STATUS_OF_EXCEPTION = {
    "TryRefreshTokenError": "TRY_REFRESH_TOKEN",
    "UnauthorisedError": "UNAUTHORISED",
    "TokenTheftError": "TOKEN_THEFT_DETECTED",
    "InvalidClaimsError": "INVALID_CLAIMS",
}
_CLOCK_READERS = (access_token, jwks, primitive_claim, primitive_array_claim)


class TestClock:
    """The SDK's ``get_timestamp_ms``, or the test's instant once one is set."""

    def __init__(self) -> None:
        self.now_ms: int | None = None

    def __call__(self) -> int:
        return get_timestamp_ms() if self.now_ms is None else self.now_ms


CLOCK = TestClock()
for _module in _CLOCK_READERS:
    _module.get_timestamp_ms = CLOCK


async def _no_value(_user_id: str, _user_context: dict[str, Any]) -> None:
    """The claims' fetch_value: nothing to refetch, as for a declarative gRPC validator."""
    return None


def _validator(spec: JSON) -> Any:
    """An SDK validator from the tests' spec: ``{"kind", "key", "value" | "values",
    "max_age", "id"}``, built through the SDK's own claim classes."""
    kind, key, max_age, id_ = spec["kind"], spec["key"], spec.get("max_age"), spec.get("id")
    if kind == "has_value":
        return PrimitiveClaim(key, _no_value).validators.has_value(spec["value"], max_age, id_)
    validators = PrimitiveArrayClaim(key, _no_value).validators
    if kind in ("includes", "excludes"):
        return getattr(validators, kind)(spec["value"], max_age, id_)
    return getattr(validators, kind)(spec["values"], max_age, id_)


def _override(specs: list[JSON] | None) -> Callable[..., Any] | None:
    if specs is None:
        return None
    validators = [_validator(spec) for spec in specs]
    return lambda _global, _session, _ctx: validators


def _claim_errors(errors: list[Any]) -> list[JSON]:
    return [{"id": e.id, "reason": e.reason} for e in errors]


def _core_was_called_in_verify() -> bool:
    return AllowedProcessStates.CALLING_SERVICE_IN_VERIFY in ProcessState.get_instance().history


async def op_create_session(args: JSON) -> JSON:
    created = await st.create_new_session_without_request_response(
        args["user_id"], args.get("payload"), args.get("data")
    )
    tokens = created.get_all_session_tokens_dangerously()
    return {
        "status": "OK",
        "access_token": tokens["accessToken"],
        "refresh_token": tokens["refreshToken"],
        "handle": created.get_handle(),
    }


async def op_get_session(args: JSON) -> JSON:
    ProcessState.get_instance().history.clear()
    got = await st.get_session_without_request_response(
        args["access_token"],
        anti_csrf_token=args.get("anti_csrf_token"),
        check_database=args.get("check_database"),
        session_required=args.get("session_required"),
        override_global_claim_validators=_override(args.get("validators")),
    )
    if got is None:
        return {"status": "NO_SESSION"}
    tokens = got.get_all_session_tokens_dangerously()
    return {
        "status": "OK",
        "user_id": got.get_user_id(),
        "handle": got.get_handle(),
        "payload": got.get_access_token_payload(),
        "new_access_token": tokens["accessAndFrontTokenUpdated"],
        "called_core": _core_was_called_in_verify(),
    }


async def op_validate_claims_for_session_handle(args: JSON) -> JSON:
    specs = args["validators"]
    result = await st.validate_claims_for_session_handle(
        args["handle"],
        override_global_claim_validators=lambda _global, _info, _ctx: [
            _validator(spec) for spec in specs
        ],
    )
    if isinstance(result, SessionDoesNotExistError):
        return {"status": "SESSION_DOES_NOT_EXIST"}
    if result.invalid_claims:
        return {"status": "INVALID_CLAIMS", "invalid_claims": _claim_errors(result.invalid_claims)}
    return {"status": "OK"}


async def op_regenerate_access_token(args: JSON) -> JSON:
    result = await st.regenerate_access_token(args["access_token"], args.get("payload"))
    if result is None:
        return {"status": "UNAUTHORISED"}
    return {
        "status": "OK",
        "handle": result.session.handle,
        "user_id": result.session.user_id,
        "user_data_in_jwt": result.session.user_data_in_jwt,
        "access_token": None if result.access_token is None else result.access_token.token,
    }


async def op_get_session_information(args: JSON) -> JSON:
    info = await st.get_session_information(args["handle"])
    if info is None:
        return {"status": "SESSION_DOES_NOT_EXIST"}
    return {"status": "OK", "custom_claims": info.custom_claims_in_access_token_payload}


async def op_get_claim_value(args: JSON) -> JSON:
    result = await st.get_claim_value(args["handle"], PrimitiveClaim(args["key"], _no_value))
    if isinstance(result, SessionDoesNotExistError):
        return {"status": "SESSION_DOES_NOT_EXIST"}
    return {"status": "OK", "value": result.value}


async def op_create_jwt(args: JSON) -> JSON:
    created = await st.create_jwt(
        args["payload"], args.get("validity_seconds"), args.get("use_static_signing_key")
    )
    token = getattr(created, "jwt", None)
    if token is None:
        return {"status": "UNSUPPORTED_ALGORITHM"}
    return {"status": "OK", "jwt": token}


OPS: dict[str, Callable[[JSON], Awaitable[JSON]]] = {
    "create_session": op_create_session,
    "get_session": op_get_session,
    "validate_claims_for_session_handle": op_validate_claims_for_session_handle,
    "regenerate_access_token": op_regenerate_access_token,
    "get_session_information": op_get_session_information,
    "get_claim_value": op_get_claim_value,
    "create_jwt": op_create_jwt,
}


async def answer(request: JSON) -> JSON:
    CLOCK.now_ms = request.get("now_ms")
    try:
        return await OPS[request["op"]](request)
    except Exception as error:  # the SDK's exceptions are its outcomes
        name = type(error).__name__
        status = _STATUS_OF_EXCEPTION.get(name)
        if status is None:
            return {"status": "RAISED", "raised": name}
        outcome: JSON = {"status": status}
        if status == "INVALID_CLAIMS":
            outcome["invalid_claims"] = _claim_errors(error.payload)  # type: ignore[attr-defined]
        return outcome


async def main(core_url: str, use_dynamic_key: bool) -> None:
    init_sdk(core_url, use_dynamic_key=use_dynamic_key)
    loop = asyncio.get_running_loop()
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        print(json.dumps(await answer(json.loads(line)), default=repr), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], len(sys.argv) < 3 or sys.argv[2] == "true"))
