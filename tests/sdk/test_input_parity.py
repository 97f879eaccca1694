"""Malformed input: where supertokens-python 0.14.0 raises or passes an empty id on to the
core, the service answers INVALID_ARGUMENT (docs/differences.md)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from session_client import SessionClient

from session_common.clock import ManualClock
from tests.sdk.parity import SdkOracle


async def _code(call: Callable[[], Awaitable[Any]]) -> str:
    try:
        await call()
    except grpc.aio.AioRpcError as failure:
        return str(failure.code().name)
    return "OK"


async def test_input_the_sdk_raises_on_is_an_invalid_argument(
    sdk: SdkOracle, client: SessionClient, clock: ManualClock
) -> None:
    now = clock.now_ms()
    raised = {"status": "RAISED", "raised": "GeneralError"}  # the core's 400, as an exception
    theirs = await sdk.ask("create_jwt", now_ms=now, payload={}, validity_seconds=0)
    assert theirs == raised
    assert await _code(lambda: client.create_jwt({}, validity_seconds=0)) == "INVALID_ARGUMENT"

    theirs = await sdk.ask("create_session", now_ms=now, user_id="u", payload={"sub": "x"})
    assert theirs == raised
    assert await _code(lambda: client.create_session("u", {"sub": "x"})) == "INVALID_ARGUMENT"


async def test_empty_ids_are_invalid_arguments_where_the_sdk_passes_them_on(
    sdk: SdkOracle, client: SessionClient, clock: ManualClock
) -> None:
    now = clock.now_ms()
    theirs = await sdk.ask("create_session", now_ms=now, user_id="")
    assert theirs["status"] == "OK"  # a session for the user ""
    assert await _code(lambda: client.create_session("")) == "INVALID_ARGUMENT"

    theirs = await sdk.ask("get_session_information", now_ms=now, handle="")
    assert theirs == {"status": "SESSION_DOES_NOT_EXIST"}
    assert await _code(lambda: client.get_session_information("")) == "INVALID_ARGUMENT"

    handle = (await client.create_session("u")).session.session_handle
    theirs = await sdk.ask("get_claim_value", now_ms=now, handle=handle, key="")
    assert theirs == {"status": "OK", "value": None}
    assert await _code(lambda: client.get_claim_value(handle, "")) == "INVALID_ARGUMENT"
