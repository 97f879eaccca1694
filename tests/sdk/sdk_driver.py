"""Drive the unmodified supertokens-python 0.14.0 SDK against a running core.

Runs inside the SDK's own virtual environment (its pins conflict with ours), so it imports
nothing from this project but ``sdk_app``. Usage, from the repository root:
``python -m tests.sdk.sdk_driver <core-url> <anti-csrf-mode>``. It prints one
JSON object: for every scenario, the observations the test then asserts on. Exceptions raised
by the SDK are recorded by class name, since they *are* the SDK's outcome statuses.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any

os.environ["SUPERTOKENS_ENV"] = "testing"  # makes ProcessState record core calls

from supertokens_python.process_state import AllowedProcessStates, ProcessState
from supertokens_python.recipe.session import asyncio as st

from tests.sdk.sdk_app import init_sdk

Observations = dict[str, Any]


def _core_was_called_in_verify() -> bool:
    return AllowedProcessStates.CALLING_SERVICE_IN_VERIFY in ProcessState.get_instance().history


def _reset_process_state() -> None:
    ProcessState.get_instance().history.clear()


def _jwt_part(token: str, index: int) -> Any:
    part = token.split(".")[index]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


async def _outcome(call: Awaitable[Any]) -> str:
    """The SDK reports non-OK outcomes as exceptions; name them."""
    try:
        await call
    except Exception as error:  # the exception class is the observation
        return type(error).__name__
    return "OK"


async def scenario_create_and_get_locally(obs: Observations) -> None:
    s = await st.create_new_session_without_request_response(
        "user-create", {"role": "admin"}, {"secret": "db-only"}
    )
    token = s.get_access_token()
    obs["header"] = _jwt_part(token, 0)
    obs["payload_keys"] = sorted(_jwt_part(token, 1))
    _reset_process_state()
    got = await st.get_session_without_request_response(token)
    assert got is not None
    obs["get_user_id"] = got.get_user_id()
    obs["get_handle_matches"] = got.get_handle() == s.get_handle()
    obs["get_role"] = got.get_access_token_payload().get("role")
    obs["get_called_core"] = _core_was_called_in_verify()
    tokens = got.get_all_session_tokens_dangerously()
    obs["get_updated_tokens"] = tokens["accessAndFrontTokenUpdated"]

    _reset_process_state()
    checked = await st.get_session_without_request_response(token, check_database=True)
    assert checked is not None
    obs["check_database_called_core"] = _core_was_called_in_verify()
    obs["check_database_user_id"] = checked.get_user_id()


async def scenario_refresh_and_promotion(obs: Observations) -> None:
    s = await st.create_new_session_without_request_response("user-refresh", {"n": 1}, {})
    first = s.get_all_session_tokens_dangerously()
    refreshed = await st.refresh_session_without_request_response(first["refreshToken"])
    tokens = refreshed.get_all_session_tokens_dangerously()
    obs["refresh_new_access_token"] = tokens["accessToken"] != first["accessToken"]
    obs["refresh_new_refresh_token"] = tokens["refreshToken"] != first["refreshToken"]
    obs["refresh_same_handle"] = refreshed.get_handle() == s.get_handle()
    obs["refreshed_parent_hash_set"] = (
        _jwt_part(tokens["accessToken"], 1)["parentRefreshTokenHash1"] is not None
    )

    _reset_process_state()
    promoted = await st.get_session_without_request_response(tokens["accessToken"])
    assert promoted is not None
    promoted_tokens = promoted.get_all_session_tokens_dangerously()
    obs["first_use_called_core"] = _core_was_called_in_verify()
    obs["first_use_new_token"] = promoted_tokens["accessAndFrontTokenUpdated"]
    obs["promoted_parent_hash"] = _jwt_part(promoted_tokens["accessToken"], 1)[
        "parentRefreshTokenHash1"
    ]

    _reset_process_state()
    again = await st.get_session_without_request_response(promoted_tokens["accessToken"])
    assert again is not None
    obs["second_use_called_core"] = _core_was_called_in_verify()
    obs["second_use_new_token"] = again.get_all_session_tokens_dangerously()[
        "accessAndFrontTokenUpdated"
    ]
    # After promotion the new refresh token rotates again.
    second = await st.refresh_session_without_request_response(tokens["refreshToken"])
    obs["refresh_after_promotion"] = second.get_handle() == s.get_handle()


async def scenario_theft(obs: Observations) -> None:
    s = await st.create_new_session_without_request_response("user-theft", {}, {})
    r0 = s.get_all_session_tokens_dangerously()["refreshToken"]
    child = await st.refresh_session_without_request_response(r0)
    await st.get_session_without_request_response(child.get_access_token())  # promotes R1
    try:
        await st.refresh_session_without_request_response(r0)
        obs["theft"] = "OK"
    except Exception as error:
        obs["theft"] = type(error).__name__
        obs["theft_handle_matches"] = getattr(error, "session_handle", None) == s.get_handle()
        obs["theft_user_id"] = getattr(error, "user_id", None)


async def scenario_revoke(obs: Observations) -> None:
    s = await st.create_new_session_without_request_response("user-revoke", {}, {})
    refresh_token = s.get_all_session_tokens_dangerously()["refreshToken"]
    obs["revoke_result"] = await st.revoke_session(s.get_handle())
    obs["revoke_again_result"] = await st.revoke_session(s.get_handle())
    obs["revoked_get_local"] = await _outcome(
        st.get_session_without_request_response(s.get_access_token())
    )
    obs["revoked_get_check_database"] = await _outcome(
        st.get_session_without_request_response(s.get_access_token(), check_database=True)
    )
    obs["revoked_refresh"] = await _outcome(
        st.refresh_session_without_request_response(refresh_token)
    )

    handles = []
    for _ in range(3):
        created = await st.create_new_session_without_request_response("user-many", {}, {})
        handles.append(created.get_handle())
    listed = await st.get_all_session_handles_for_user("user-many")
    obs["listed_all"] = sorted(listed) == sorted(handles)
    obs["revoke_multiple"] = sorted(await st.revoke_multiple_sessions(handles[:2])) == sorted(
        handles[:2]
    )
    obs["revoke_all"] = await st.revoke_all_sessions_for_user("user-many") == handles[2:]
    obs["listed_after"] = await st.get_all_session_handles_for_user("user-many")


async def scenario_payload_and_data(obs: Observations) -> None:
    s = await st.create_new_session_without_request_response(
        "user-payload", {"keep": 1, "drop": 2}, {"a": 1}
    )
    handle = s.get_handle()
    obs["merge_by_handle"] = await st.merge_into_access_token_payload(
        handle, {"drop": None, "added": "x"}
    )
    info = await st.get_session_information(handle)
    assert info is not None
    obs["info_claims"] = info.custom_claims_in_access_token_payload
    obs["info_user_id"] = info.user_id
    obs["info_expiry_after_created"] = info.expiry > info.time_created
    obs["update_data"] = await st.update_session_data_in_database(handle, {"b": [1, 2]})
    info = await st.get_session_information(handle)
    assert info is not None
    obs["info_data"] = info.session_data_in_database

    # Session.merge_into_access_token_payload goes through /recipe/session/regenerate.
    await s.merge_into_access_token_payload({"fresh": True})
    obs["regenerated_payload_fresh"] = s.get_access_token_payload().get("fresh")
    regenerated = await st.regenerate_access_token(s.get_access_token(), {"only": "this"})
    assert regenerated is not None
    obs["regenerate_same_handle"] = regenerated.session.handle == handle
    obs["regenerate_payload"] = regenerated.session.user_data_in_jwt

    obs["merge_unknown_handle"] = await st.merge_into_access_token_payload(
        "invalidHandle", {"a": 1}
    )
    obs["update_unknown_handle"] = await st.update_session_data_in_database("invalidHandle", {})
    obs["info_unknown_handle"] = await st.get_session_information("invalidHandle")


async def scenario_jwks_and_jwt(obs: Observations) -> None:
    s = await st.create_new_session_without_request_response("user-jwks", {}, {})
    jwks = await st.get_jwks()
    kids = [key.kid for key in jwks.keys]
    obs["jwks_count"] = len(kids)
    obs["jwks_has_session_kid"] = _jwt_part(s.get_access_token(), 0)["kid"] in kids
    obs["jwks_first_is_dynamic"] = kids[0].startswith("d-")
    created = await st.create_jwt({"custom": "claim"}, 60)
    token = getattr(created, "jwt", None)
    obs["jwt_created"] = token is not None
    if token is not None:
        obs["jwt_kid_in_jwks"] = _jwt_part(token, 0)["kid"] in kids
        obs["jwt_custom"] = _jwt_part(token, 1).get("custom")


async def scenario_anti_csrf(obs: Observations) -> None:
    s = await st.create_new_session_without_request_response("user-csrf", {}, {})
    tokens = s.get_all_session_tokens_dangerously()
    obs["anti_csrf_present"] = tokens["antiCsrfToken"] is not None
    obs["csrf_right"] = await _outcome(
        st.get_session_without_request_response(
            tokens["accessToken"], anti_csrf_token=tokens["antiCsrfToken"]
        )
    )
    obs["csrf_wrong"] = await _outcome(
        st.get_session_without_request_response(tokens["accessToken"], anti_csrf_token="nope")
    )
    obs["csrf_refresh_missing"] = await _outcome(
        st.refresh_session_without_request_response(tokens["refreshToken"])
    )
    obs["csrf_refresh_right"] = await _outcome(
        st.refresh_session_without_request_response(
            tokens["refreshToken"], anti_csrf_token=tokens["antiCsrfToken"]
        )
    )


SCENARIOS: dict[str, list[Callable[[Observations], Awaitable[None]]]] = {
    "NONE": [
        scenario_create_and_get_locally,
        scenario_refresh_and_promotion,
        scenario_theft,
        scenario_revoke,
        scenario_payload_and_data,
        scenario_jwks_and_jwt,
    ],
    "VIA_TOKEN": [scenario_anti_csrf],
}


async def main(core_url: str, anti_csrf: str) -> None:
    init_sdk(core_url, anti_csrf=anti_csrf)
    report: dict[str, Observations] = {}
    for scenario in SCENARIOS[anti_csrf]:
        observations: Observations = {}
        try:
            await scenario(observations)
        except Exception as error:  # a failed scenario is reported, never hidden
            observations["error"] = f"{type(error).__name__}: {error}"
        report[scenario.__name__] = observations
    print(json.dumps(report, default=repr))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
