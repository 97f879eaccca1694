"""Malformed requests get INVALID_ARGUMENT naming the field; infrastructure failures get
their own codes; nothing is ever UNKNOWN or INTERNAL (the ``make_service`` fixture also
asserts the service answered no RPC with INTERNAL)."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import pytest
from google.protobuf import struct_pb2
from session_client import SessionClient

from session_core.app import RunningCore
from session_proto.session.v1 import session_service_pb2 as pb
from session_service.server import RunningService
from tests.service.conftest import MakeService
from tests.service.harness import free_port

Call = Callable[[], Awaitable[Any]]


async def _code_and_details(call: Call) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call()
    return raised.value.code(), raised.value.details() or ""


def _struct_with(key: str, value: struct_pb2.Value) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.fields[key].CopyFrom(value)
    return struct


async def _raw_call(channel: grpc.aio.Channel, method: str, request: Any) -> Any:
    stub = channel.unary_unary(
        f"/session.v1.SessionService/{method}",
        request_serializer=lambda m: m if isinstance(m, bytes) else m.SerializeToString(),
        response_deserializer=lambda b: b,
    )
    return await stub(request, timeout=10)


@pytest.mark.parametrize(
    ("method", "request_message", "field"),
    [
        ("CreateSession", pb.CreateSessionRequest(user_id=""), "user_id"),
        (
            "CreateSession",
            pb.CreateSessionRequest(user_id="u", access_token_payload={"sub": "someone-else"}),
            "access_token_payload",
        ),
        (
            "CreateSession",
            pb.CreateSessionRequest(
                user_id="u",
                access_token_payload=_struct_with("n", struct_pb2.Value(number_value=math.nan)),
            ),
            "access_token_payload.n",
        ),
        (
            "CreateSession",
            pb.CreateSessionRequest(
                user_id="u", session_data_in_database=_struct_with("empty", struct_pb2.Value())
            ),
            "session_data_in_database.empty",
        ),
        ("RevokeSession", pb.RevokeSessionRequest(session_handle=""), "session_handle"),
        ("RevokeAllSessionsForUser", pb.RevokeAllSessionsForUserRequest(user_id=""), "user_id"),
        (
            "GetAllSessionHandlesForUser",
            pb.GetAllSessionHandlesForUserRequest(user_id=""),
            "user_id",
        ),
        (
            "GetSessionInformation",
            pb.GetSessionInformationRequest(session_handle=""),
            "session_handle",
        ),
        ("RegenerateAccessToken", pb.RegenerateAccessTokenRequest(access_token=""), "access_token"),
        (
            "SetClaimValue",
            pb.SetClaimValueRequest(session_handle="h", claim_key="k"),
            "value",
        ),
        (
            "SetClaimValue",
            pb.SetClaimValueRequest(
                session_handle="h", claim_key="", value=struct_pb2.Value(bool_value=True)
            ),
            "key",
        ),
        (
            "GetClaimValue",
            pb.GetClaimValueRequest(session_handle="", claim_key="k"),
            "session_handle",
        ),
        (
            "GetSession",
            pb.GetSessionRequest(access_token="x", claim_validators=[pb.ClaimValidator()]),
            "claim_validators[0]",
        ),
        (
            "GetSession",
            pb.GetSessionRequest(
                access_token="x",
                claim_validators=[
                    pb.ClaimValidator(has_value=pb.ClaimValidator.ValueCheck(key="k"))
                ],
            ),
            "claim_validators[0].has_value.value",
        ),
        (
            "GetSession",
            pb.GetSessionRequest(
                access_token="x",
                claim_validators=[
                    pb.ClaimValidator(
                        includes=pb.ClaimValidator.ValueCheck(
                            key="", value=struct_pb2.Value(string_value="v")
                        )
                    )
                ],
            ),
            "claim_validators[0].key",
        ),
        (
            "ValidateClaimsForSessionHandle",
            pb.ValidateClaimsForSessionHandleRequest(
                session_handle="h",
                claim_validators=[
                    pb.ClaimValidator(
                        includes=pb.ClaimValidator.ValueCheck(
                            key="k", value=struct_pb2.Value(struct_value=struct_pb2.Struct())
                        )
                    )
                ],
            ),
            "claim_validators[0].value",
        ),
        ("CreateJWT", pb.CreateJWTRequest(validity_seconds=-5), "validity"),
        ("CreateSession", b"\x0a\x01\xff", "request"),  # user_id holding invalid UTF-8
    ],
)
async def test_malformed_requests_are_invalid_argument_naming_the_field(
    channel: grpc.aio.Channel, method: str, request_message: Any, field: str
) -> None:
    code, details = await _code_and_details(lambda: _raw_call(channel, method, request_message))
    assert code is grpc.StatusCode.INVALID_ARGUMENT, details
    assert field in details


async def test_oversized_request_is_resource_exhausted(
    make_service: MakeService,
) -> None:
    service = await make_service(max_receive_message_bytes=4096, max_access_token_bytes=3072)
    async with SessionClient.insecure(service.address) as client:
        code, _ = await _code_and_details(
            lambda: client.create_session("user-id", {"blob": "x" * 10_000})
        )
    assert code is grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_unreachable_core_is_unavailable(make_service: MakeService) -> None:
    service = await make_service(core_url=f"http://127.0.0.1:{free_port()}")
    async with SessionClient.insecure(service.address) as client:
        code, details = await _code_and_details(lambda: client.create_session("user-id"))
    assert code is grpc.StatusCode.UNAVAILABLE
    assert details


async def test_core_stopping_mid_life_turns_calls_unavailable(
    service: RunningService, client: SessionClient, core: RunningCore
) -> None:
    created = await client.create_session("user-id")
    await core.stop()

    code, _ = await _code_and_details(
        lambda: client.get_session_information(created.session.session_handle)
    )
    assert code is grpc.StatusCode.UNAVAILABLE
    # Local verification needs no core: it keeps working with the cached keys.
    verified = await client.get_session(created.session.access_token)
    assert verified.session is not None
    assert service.servicer.internal_errors == 0


async def test_protected_claims_in_a_payload_update_are_invalid_argument(
    client: SessionClient,
) -> None:
    created = await client.create_session("user-id")
    code, details = await _code_and_details(
        lambda: client.merge_into_access_token_payload(created.session.session_handle, {"exp": 1})
    )
    assert code is grpc.StatusCode.INVALID_ARGUMENT
    assert "access_token_payload_update" in details


async def test_tokens_never_appear_in_error_details(client: SessionClient) -> None:
    created = await client.create_session("user-id")
    token = created.session.access_token
    code, details = await _code_and_details(
        lambda: client.regenerate_access_token(token, {"sub": "x"})
    )
    assert code is grpc.StatusCode.INVALID_ARGUMENT
    assert token not in details
    assert token.split(".")[1] not in details
