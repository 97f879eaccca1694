"""FetchAndSetClaim, ValidateClaimsForSessionHandle and ValidateClaimsInJwtPayload with claims
to fetch; user_context reaching fetch_value and the override hooks; a fetch_value that
raises."""

from __future__ import annotations

import logging

import grpc
import pytest
from session_client import SessionClient, SessionStatus, has_value, includes

from session_common.clock import ManualClock
from tests.service import fetched_claims
from tests.service.claims_module.conftest import CLAIMS, ISSUER
from tests.service.conftest import MakeService
from tests.service.domain.domain_helpers import decode_payload as payload_of
from tests.service.fetched_claims import fetch_calls, seen_contexts


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
