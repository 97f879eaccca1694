"""Run the claims parity scenarios with the unmodified supertokens-python 0.14.0 SDK against a
running core.

Runs inside the SDK's own virtual environment, so the only things it imports from this
project are ``claims_parity_observe`` (standard library only), which reads both sides alike,
and ``sdk_app`` (the SDK's ``init``).
Usage, from the repository's root: ``python -m tests.sdk.sdk_claims_driver <core-url>`` with
``{"claims": [...], "scenarios": [...]}`` (``tests/sdk/claims_parity_cases.py`` as JSON) on
stdin. Prints one JSON object: the observations of every scenario, as
``test_fetched_claims_parity.observe`` makes them for the service.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter
from typing import Any

from supertokens_python.recipe.session import asyncio as st
from supertokens_python.recipe.session.claims import (
    BooleanClaim,
    PrimitiveArrayClaim,
    PrimitiveClaim,
)
from supertokens_python.recipe.session.exceptions import InvalidClaimsError
from supertokens_python.recipe.session.interfaces import SessionDoesNotExistError

from tests.sdk.claims_parity_observe import jwt_payload, materialise, normalise, now_ms, reasons
from tests.sdk.sdk_app import init_sdk

fetches: Counter[str] = Counter()
CLASSES = {"boolean": BooleanClaim, "primitive": PrimitiveClaim, "array": PrimitiveArrayClaim}


def fetcher(key: str, value: Any) -> Any:
    async def fetch_value(user_id: str, user_context: dict[str, Any]) -> Any:
        fetches[key] += 1
        return value

    return fetch_value


def validator(claims: dict[str, Any], spec: dict[str, Any]) -> Any:
    claim = claims[spec["key"]]
    if spec["kind"] == "has_value":
        return claim.validators.has_value(spec["value"], spec["max_age"])
    return getattr(claim.validators, spec["kind"])(spec["value"], spec["max_age"])


async def run(index: int, scenario: dict[str, Any], claims: dict[str, Any]) -> dict[str, Any]:
    start = now_ms()
    user_id = f"sdk-claims-{index}"
    created = await st.create_new_session_without_request_response(
        user_id, materialise(scenario["payload"], start), {}
    )
    handle = "no-such-handle" if scenario.get("unknown_handle") else created.get_handle()
    validators = [validator(claims, spec) for spec in scenario.get("validators", [])]
    before = Counter(fetches)
    keys = set(claims)
    obs: dict[str, Any] = {}
    function = scenario["function"]
    if function == "get_session":
        # get_session_without_request_response is the recipe's get_session followed by
        # Session.assert_claims; the two steps keep the session observable on failure.
        got = await st.get_session_without_request_response(
            created.get_access_token(), override_global_claim_validators=lambda *_: []
        )
        assert got is not None
        try:
            await got.assert_claims(validators)
            obs["status"] = "OK"
        except InvalidClaimsError as error:
            obs["status"] = "INVALID_CLAIMS"
            obs["invalid"] = reasons(error.payload)
        tokens = got.get_all_session_tokens_dangerously()
        obs["new_token"] = tokens["accessAndFrontTokenUpdated"]
        obs["token_claims"] = normalise(jwt_payload(tokens["accessToken"]), keys, start)
        obs["session_claims"] = normalise(got.get_access_token_payload(), keys, start)
    elif function == "validate_claims_for_session_handle":
        result = await st.validate_claims_for_session_handle(
            handle, override_global_claim_validators=lambda *_: validators
        )
        if isinstance(result, SessionDoesNotExistError):
            obs["status"] = "SESSION_DOES_NOT_EXIST"
        else:
            obs["status"] = "INVALID_CLAIMS" if result.invalid_claims else "OK"
            if result.invalid_claims:
                obs["invalid"] = reasons(result.invalid_claims)
    elif function == "validate_claims_in_jwt_payload":
        result = await st.validate_claims_in_jwt_payload(
            user_id,
            jwt_payload(created.get_access_token()),
            override_global_claim_validators=lambda *_: validators,
        )
        obs["status"] = "INVALID_CLAIMS" if result.invalid_claims else "OK"
        if result.invalid_claims:
            obs["invalid"] = reasons(result.invalid_claims)
    else:
        done = await st.fetch_and_set_claim(handle, claims[scenario["claim"]])
        obs["status"] = "OK" if done else "SESSION_DOES_NOT_EXIST"
    obs["fetches"] = dict(fetches - before)
    info = await st.get_session_information(created.get_handle())
    assert info is not None
    obs["stored"] = normalise(info.custom_claims_in_access_token_payload, keys, start)
    return obs


async def main(core_url: str) -> None:
    init_sdk(core_url)
    cases = json.load(sys.stdin)
    claims = {
        c["key"]: CLASSES[c["kind"]](
            c["key"], fetcher(c["key"], c["fetched"]), c["default_max_age_in_sec"]
        )
        for c in cases["claims"]
    }
    report: dict[str, Any] = {}
    for index, scenario in enumerate(cases["scenarios"]):
        try:
            report[scenario["name"]] = await run(index, scenario, claims)
        except Exception as error:  # a failed scenario is reported, never hidden
            report[scenario["name"]] = {"error": f"{type(error).__name__}: {error}"}
    print(json.dumps(report))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
