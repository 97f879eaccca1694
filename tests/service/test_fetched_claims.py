"""Claims the service fetches (``--claims-module``), end to end over gRPC against the real
core: GetSession fetches a value exactly when the SDK would (missing, or older than the
validator's max age), merges it, and answers with the new access token; FetchAndSetClaim,
ValidateClaimsForSessionHandle and ValidateClaimsInJwtPayload; user_context reaching
fetch_value and the override hooks; and GetSession's cached fast path stepping aside.

The claims are ``tests/service/fetched_claims.py``, whose ``fetch_value`` functions count
their calls.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from session_client import SessionClient, SessionStatus, has_value, includes, includes_all

from session_common.clock import ManualClock
from session_proto.session.v1 import session_service_pb2 as pb
from session_service.domain.api import ClaimValidatorKind, ClaimValidatorSpec
from session_service.server import RunningService
from session_service.settings import SettingsError
from tests.service import fetched_claims
from tests.service.conftest import MakeService
from tests.service.domain.domain_helpers import decode_payload as payload_of
from tests.service.fetched_claims import fetch_calls, seen_contexts

CLAIMS = "tests.service.fetched_claims"
ISSUER = "http://localhost:3001/auth"


def front_token_payload(front_token: str) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(base64.b64decode(front_token))
    return decoded


@pytest.fixture(autouse=True)
def _fresh_claims() -> Iterator[None]:
    fetched_claims.reset()
    yield
    fetched_claims.reset()


@pytest.fixture
async def claims_service(make_service: MakeService) -> RunningService:
    return await make_service(claims_module=CLAIMS)


@pytest.fixture
async def claims_client(claims_service: RunningService) -> AsyncIterator[SessionClient]:
    async with SessionClient.insecure(claims_service.address) as client:
        yield client


async def test_a_missing_value_is_fetched_and_the_answer_carries_a_new_token(
    claims_client: SessionClient, clock: ManualClock
) -> None:
    created = await claims_client.create_session("alice", {"role": "admin"})
    old_token = created.session.access_token
    validators = [has_value("verified", True)]

    result = await claims_client.get_session(old_token, claim_validators=validators)

    assert result.status is SessionStatus.OK
    assert fetch_calls == {"verified": 1}
    assert seen_contexts == [("verified", "alice", {})]
    assert result.new_access_token is not None
    assert result.session is not None
    new_token = result.new_access_token.token
    assert result.session.access_token == new_token != old_token
    stored = {"v": True, "t": clock.now_ms()}
    assert payload_of(new_token)["verified"] == stored
    assert payload_of(new_token)["role"] == "admin"
    assert payload_of(new_token)["sessionHandle"] == created.session.session_handle
    assert result.session.access_token_payload == payload_of(new_token)
    assert front_token_payload(result.session.front_token) == {
        "ate": result.session.expiry,
        "uid": "alice",
        "up": payload_of(new_token),
    }
    assert result.session.expiry == created.session.expiry  # regenerate keeps the expiry
    info = await claims_client.get_session_information(created.session.session_handle)
    assert info.info is not None
    assert info.info.custom_claims_in_access_token_payload == {
        "role": "admin",
        "iss": ISSUER,
        "verified": stored,
    }

    again = await claims_client.get_session(new_token, claim_validators=validators)
    assert again.status is SessionStatus.OK
    assert again.new_access_token is None
    assert fetch_calls == {"verified": 1}  # the new token carries the value

    # The old token still lacks it: the SDK fetches again for it.
    stale = await claims_client.get_session(old_token, claim_validators=validators)
    assert stale.status is SessionStatus.OK
    assert stale.new_access_token is not None
    assert fetch_calls == {"verified": 2}


async def test_the_first_use_after_a_refresh_is_promoted_and_then_gets_the_fetched_value(
    claims_client: SessionClient,
) -> None:
    created = await claims_client.create_session("amy")
    refreshed = await claims_client.refresh_session(created.refresh_token.token)
    assert refreshed.session is not None
    assert payload_of(refreshed.session.access_token)["parentRefreshTokenHash1"] is not None

    result = await claims_client.get_session(
        refreshed.session.access_token, claim_validators=[has_value("verified", True)]
    )

    assert result.status is SessionStatus.OK
    assert fetch_calls == {"verified": 1}
    assert result.new_access_token is not None
    final = payload_of(result.new_access_token.token)
    assert final["verified"]["v"] is True
    assert final["parentRefreshTokenHash1"] is None  # the core promoted, then regenerated
    again = await claims_client.get_session(
        result.new_access_token.token, claim_validators=[has_value("verified", True)]
    )
    assert (again.status, again.new_access_token) == (SessionStatus.OK, None)


async def test_a_value_is_fetched_again_once_older_than_the_max_age(
    claims_client: SessionClient, clock: ManualClock
) -> None:
    set_at = clock.now_ms()
    created = await claims_client.create_session("bob", {"verified": {"v": True, "t": set_at}})
    token = created.session.access_token
    validators = [has_value("verified", True, max_age_seconds=300)]

    fresh = await claims_client.get_session(token, claim_validators=validators)
    assert (fresh.status, fresh.new_access_token, fetch_calls["verified"]) == (
        SessionStatus.OK,
        None,
        0,
    )

    clock.advance(300_000)  # exactly the max age: not older than it
    boundary = await claims_client.get_session(token, claim_validators=validators)
    assert (boundary.status, boundary.new_access_token) == (SessionStatus.OK, None)
    assert fetch_calls["verified"] == 0

    clock.advance(1)
    old = await claims_client.get_session(token, claim_validators=validators)
    assert old.status is SessionStatus.OK
    assert fetch_calls["verified"] == 1
    assert old.new_access_token is not None
    assert payload_of(old.new_access_token.token)["verified"] == {"v": True, "t": clock.now_ms()}

    # Without a max age an old value is never fetched again.
    clock.advance(3_000_000)
    ageless = await claims_client.get_session(token, claim_validators=[has_value("verified", True)])
    assert (ageless.status, ageless.new_access_token) == (SessionStatus.OK, None)
    assert fetch_calls["verified"] == 1


async def test_a_claims_default_max_age_applies_when_the_validator_sets_none(
    claims_client: SessionClient, clock: ManualClock
) -> None:
    created = await claims_client.create_session(
        "carol", {"aged": {"v": False, "t": clock.now_ms() - 301_000}}
    )
    token = created.session.access_token
    # ValidateClaimsInJwtPayload never fetches: the old value is reported expired against
    # the claim's default max age of 300 s.
    checked = await claims_client.validate_claims_in_jwt_payload(
        "carol", payload_of(token), [has_value("aged", True)]
    )
    assert checked.status is SessionStatus.INVALID_CLAIMS
    assert [(e.id, e.reason) for e in checked.invalid_claims] == [
        ("aged", {"message": "expired", "ageInSeconds": 301, "maxAgeInSeconds": 300})
    ]
    assert fetch_calls["aged"] == 0

    result = await claims_client.get_session(token, claim_validators=[has_value("aged", True)])
    assert result.status is SessionStatus.OK
    assert fetch_calls["aged"] == 1
    assert result.new_access_token is not None
    assert payload_of(result.new_access_token.token)["aged"] == {"v": True, "t": clock.now_ms()}


async def test_no_value_found_means_no_new_token_and_invalid_claims(
    claims_client: SessionClient,
) -> None:
    created = await claims_client.create_session("dave")
    result = await claims_client.get_session(
        created.session.access_token, claim_validators=[has_value("plan", "pro")]
    )
    assert result.status is SessionStatus.INVALID_CLAIMS
    assert fetch_calls["plan"] == 1
    assert result.new_access_token is None
    assert [(e.id, e.reason) for e in result.invalid_claims] == [
        ("plan", {"message": "value does not exist", "expectedValue": "pro", "actualValue": None})
    ]


async def test_a_fetched_wrong_value_is_invalid_and_its_new_token_still_returned(
    claims_client: SessionClient,
) -> None:
    fetched_claims.values["verified"] = False
    created = await claims_client.create_session("erin")
    result = await claims_client.get_session(
        created.session.access_token, claim_validators=[has_value("verified", True)]
    )
    assert result.status is SessionStatus.INVALID_CLAIMS
    assert [(e.id, e.reason) for e in result.invalid_claims] == [
        ("verified", {"message": "wrong value", "expectedValue": True, "actualValue": False})
    ]
    # As in the SDK, the value was merged before validation failed: the caller gets the token.
    assert result.new_access_token is not None
    assert payload_of(result.new_access_token.token)["verified"]["v"] is False


async def test_array_claims_and_one_fetch_for_several_validators_of_a_claim(
    claims_client: SessionClient,
) -> None:
    created = await claims_client.create_session("frank")
    result = await claims_client.get_session(
        created.session.access_token,
        claim_validators=[
            includes("roles", "admin"),
            includes_all("roles", ["admin", "user"]),
            has_value("tier", "gold"),  # a synchronous fetch_value
        ],
    )
    assert result.status is SessionStatus.OK
    assert fetch_calls == {"roles": 1, "tier": 1}
    assert result.new_access_token is not None
    new_payload = payload_of(result.new_access_token.token)
    assert new_payload["roles"]["v"] == ["admin", "user"]
    assert new_payload["tier"]["v"] == "gold"


async def test_a_validator_that_does_not_fit_its_claim_is_invalid_argument(
    claims_client: SessionClient,
) -> None:
    created = await claims_client.create_session("grace")
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await claims_client.get_session(
            created.session.access_token,
            claim_validators=[has_value("verified", True), has_value("roles", "admin")],
        )
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "claim_validators[1]" in (raised.value.details() or "")
    assert fetch_calls == {}


async def test_a_validator_of_an_undefined_key_only_reads(
    claims_client: SessionClient,
) -> None:
    created = await claims_client.create_session("heidi")
    result = await claims_client.get_session(
        created.session.access_token, claim_validators=[has_value("st-ev", True)]
    )
    assert result.status is SessionStatus.INVALID_CLAIMS
    assert result.new_access_token is None
    assert fetch_calls == {}


async def test_a_revoked_session_whose_claims_are_fetched_is_unauthorised(
    claims_client: SessionClient,
) -> None:
    created = await claims_client.create_session("ivan")
    await claims_client.revoke_session(created.session.session_handle)
    # Verified locally (the SDK does not ask the core) until the merge asks the core.
    result = await claims_client.get_session(
        created.session.access_token, claim_validators=[has_value("verified", True)]
    )
    assert result.status is SessionStatus.UNAUTHORISED
    assert result.message == "Session does not exist anymore."
    assert fetch_calls["verified"] == 1


async def test_a_server_wide_validator_of_a_claim_fetches_and_keeps_the_fast_path_off(
    make_service: MakeService, clock: ManualClock
) -> None:
    validator = ClaimValidatorSpec(
        kind=ClaimValidatorKind.HAS_VALUE, key="verified", value=True, max_age_seconds=300
    )
    service = await make_service(claims_module=CLAIMS, required_claim_validators=(validator,))
    async with SessionClient.insecure(service.address) as client:
        created = await client.create_session("judy")
        first = await client.get_session(created.session.access_token)
        assert first.status is SessionStatus.OK
        assert first.new_access_token is not None
        token = first.new_access_token.token
        assert fetch_calls["verified"] == 1

        for _ in range(3):  # a verified token, seen again and again: no fetch, no new token
            again = await client.get_session(token)
            assert (again.status, again.new_access_token) == (SessionStatus.OK, None)
        assert fetch_calls["verified"] == 1
        wire = pb.GetSessionRequest(access_token=token).SerializeToString()
        assert service.servicer.cached_get_session(wire) is None

        clock.advance(300_001)  # the cached OK answer would now be wrong: the value is old
        due = await client.get_session(token)
        assert due.status is SessionStatus.OK
        assert due.new_access_token is not None
        assert fetch_calls["verified"] == 2


async def test_a_claims_module_alone_keeps_the_fast_path(
    claims_service: RunningService, claims_client: SessionClient
) -> None:
    created = await claims_client.create_session("ken")
    token = created.session.access_token
    for _ in range(2):  # first sight, then the decoded tier
        assert (await claims_client.get_session(token)).status is SessionStatus.OK
    wire = pb.GetSessionRequest(access_token=token).SerializeToString()
    answer = claims_service.servicer.cached_get_session(wire)
    assert answer is not None
    assert answer.status == pb.SESSION_STATUS_OK
    # The same token with a user_context is no token-only request: the parser answers it.
    with_context = pb.GetSessionRequest(access_token=token)
    with_context.user_context.update({"request_id": "r-1"})
    assert claims_service.servicer.cached_get_session(with_context.SerializeToString()) is None
    verified = await claims_client.get_session(token, user_context={"request_id": "r-1"})
    assert verified.status is SessionStatus.OK
    assert fetch_calls == {}


async def test_user_context_reaches_fetch_value_and_the_override_hooks(
    make_service: MakeService,
) -> None:
    service = await make_service(
        claims_module=CLAIMS, override_module="tests.service.fetched_claims:record_context"
    )
    context = {"plan": "pro", "request_id": "r-7"}
    async with SessionClient.insecure(service.address) as client:
        created = await client.create_session("liam")
        handle = created.session.session_handle
        result = await client.get_session(
            created.session.access_token,
            claim_validators=[has_value("plan", "pro")],
            user_context=context,
        )
        assert result.status is SessionStatus.OK
        assert result.new_access_token is not None
        set_result = await client.fetch_and_set_claim(handle, "plan", user_context=context)
        assert set_result.status is SessionStatus.OK

    assert fetched_claims.hook_contexts == [
        ("get_session", context),
        ("fetch_and_set_claim", context),
    ]
    assert seen_contexts == [
        ("plan", "liam", {**context, "hook": "get_session"}),
        ("plan", "liam", {**context, "hook": "fetch_and_set_claim"}),
    ]


async def test_fetch_and_set_claim(claims_client: SessionClient, clock: ManualClock) -> None:
    created = await claims_client.create_session("mia", {"keep": 1})
    handle = created.session.session_handle

    result = await claims_client.fetch_and_set_claim(handle, "roles")
    assert (result.status, result.message) == (SessionStatus.OK, "")
    assert fetch_calls == {"roles": 1}
    info = await claims_client.get_session_information(handle)
    assert info.info is not None
    assert info.info.custom_claims_in_access_token_payload == {
        "keep": 1,
        "iss": ISSUER,
        "roles": {"v": ["admin", "user"], "t": clock.now_ms()},
    }
    # Tokens already issued keep their payload; the next one the core mints carries it.
    assert "roles" not in payload_of(created.session.access_token)
    refreshed = await claims_client.refresh_session(created.refresh_token.token)
    assert refreshed.session is not None
    assert payload_of(refreshed.session.access_token)["roles"]["v"] == ["admin", "user"]

    # A fetch_value that finds nothing stores nothing (the SDK's build gives {}).
    nothing = await claims_client.fetch_and_set_claim(handle, "plan")
    assert nothing.status is SessionStatus.OK
    info = await claims_client.get_session_information(handle)
    assert info.info is not None
    assert "plan" not in info.info.custom_claims_in_access_token_payload

    gone = await claims_client.fetch_and_set_claim("no-such-handle", "roles")
    assert gone.status is SessionStatus.SESSION_DOES_NOT_EXIST
    assert fetch_calls == {"roles": 1, "plan": 1}  # the session is read before anything is fetched

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await claims_client.fetch_and_set_claim(handle, "st-ev")
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "claim_key" in (raised.value.details() or "")


async def test_validate_claims_for_session_handle_fetches_and_stores(
    claims_client: SessionClient, clock: ManualClock
) -> None:
    created = await claims_client.create_session("nina")
    handle = created.session.session_handle
    validators = [has_value("verified", True), has_value("st-ev", True)]

    result = await claims_client.validate_claims_for_session_handle(handle, validators)
    assert result.status is SessionStatus.INVALID_CLAIMS
    assert [e.id for e in result.invalid_claims] == ["st-ev"]  # verified was fetched
    assert fetch_calls == {"verified": 1}
    info = await claims_client.get_session_information(handle)
    assert info.info is not None
    stored = info.info.custom_claims_in_access_token_payload
    assert stored["verified"] == {"v": True, "t": clock.now_ms()}

    again = await claims_client.validate_claims_for_session_handle(
        handle, [has_value("verified", True)]
    )
    assert again.status is SessionStatus.OK
    assert fetch_calls == {"verified": 1}

    gone = await claims_client.validate_claims_for_session_handle("no-such-handle", validators)
    assert gone.status is SessionStatus.SESSION_DOES_NOT_EXIST
    assert fetch_calls == {"verified": 1}


async def test_validate_claims_in_jwt_payload_never_fetches(
    claims_client: SessionClient, clock: ManualClock
) -> None:
    missing = await claims_client.validate_claims_in_jwt_payload(
        "olga", {"sub": "olga"}, [has_value("verified", True), includes("roles", "admin")]
    )
    assert missing.status is SessionStatus.INVALID_CLAIMS
    assert [e.reason for e in missing.invalid_claims] == [
        {"message": "value does not exist", "expectedValue": True, "actualValue": None},
        {"message": "value does not exist", "expectedToInclude": "admin", "actualValue": None},
    ]
    present = await claims_client.validate_claims_in_jwt_payload(
        "olga", {"verified": {"v": True, "t": clock.now_ms()}}, [has_value("verified", True)]
    )
    assert (present.status, present.invalid_claims) == (SessionStatus.OK, ())
    assert fetch_calls == {}


async def test_a_fetch_value_that_raises_is_unavailable_and_its_message_is_not_logged(
    claims_client: SessionClient, caplog: pytest.LogCaptureFixture
) -> None:
    created = await claims_client.create_session("pat")
    with (
        caplog.at_level(logging.DEBUG),
        pytest.raises(grpc.aio.AioRpcError) as raised,
    ):
        await claims_client.get_session(
            created.session.access_token, claim_validators=[has_value("broken", 1)]
        )
    assert raised.value.code() is grpc.StatusCode.UNAVAILABLE
    assert raised.value.details() == "fetch_value of claim 'broken' raised ConnectionError"
    assert "fetch_value of claim 'broken' raised ConnectionError" in caplog.text
    assert "fetch_broken" in caplog.text  # the stack, for the operator
    assert fetched_claims.SECRET not in caplog.text
    assert fetched_claims.SECRET not in (raised.value.details() or "")
    assert created.session.access_token not in caplog.text

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await claims_client.fetch_and_set_claim(created.session.session_handle, "not-json")
    assert raised.value.code() is grpc.StatusCode.UNAVAILABLE
    assert "returned a value that is not JSON (set)" in (raised.value.details() or "")


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"claims_module": "tests.service.no_such_claims"}, "cannot import claims module"),
        ({"claims_module": f"{CLAIMS}:nothing_here"}, "has no 'nothing_here'"),
        ({"claims_module": f"{CLAIMS}:SECRET"}, "must be a list of claims"),
        ({"claims_module": f"{CLAIMS}:DEFAULT_VALUES"}, "must be a list of claims"),
        ({"claims_module": f"{CLAIMS}:reset"}, "must be a list of claims"),  # returns None
        ({"claims_module": f"{CLAIMS}:fetch_calls"}, "must be a list of claims"),
        (
            {
                "claims_module": CLAIMS,
                "required_claim_validators": (
                    ClaimValidatorSpec(kind=ClaimValidatorKind.INCLUDES, key="tier", value="x"),
                ),
            },
            "required_claim_validators[0]: includes does not apply to primitive claim 'tier'",
        ),
    ],
)
async def test_an_unusable_claims_module_stops_startup(
    make_service: MakeService, settings: dict[str, Any], problem: str
) -> None:
    with pytest.raises(SettingsError) as refused:
        await make_service(**settings)
    assert problem in str(refused.value)
    assert "\n" not in str(refused.value)


async def test_a_function_of_the_module_may_give_the_claims(make_service: MakeService) -> None:
    service = await make_service(claims_module=f"{CLAIMS}:only_verified")
    async with SessionClient.insecure(service.address) as client:
        created = await client.create_session("quinn")
        handle = created.session.session_handle
        assert (await client.fetch_and_set_claim(handle, "verified")).status is SessionStatus.OK
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await client.fetch_and_set_claim(handle, "roles")  # in the module, not in the list
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert fetch_calls == {"verified": 1}


async def test_the_command_reports_a_bad_claims_module_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "broken_claims.py").write_text("raise RuntimeError('no roles table\\nat all')\n")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "session_service",
        "serve",
        "--port",
        "0",
        "--data-dir",
        str(tmp_path / "data"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={
            **os.environ,
            "PYTHONPATH": str(tmp_path),
            "SESSION_SERVICE_CLAIMS_MODULE": "broken_claims",
        },
    )
    async with asyncio.timeout(60):
        _, stderr = await process.communicate()
    assert process.returncode == 2
    assert stderr.decode().splitlines() == [
        "session-service: --claims-module: cannot import claims module 'broken_claims': "
        "RuntimeError: no roles table at all"
    ]
