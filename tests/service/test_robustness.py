"""No input produces INTERNAL or UNKNOWN: random bytes and mutated valid requests to every
RPC are answered OK or INVALID_ARGUMENT. Also the concurrency cap."""

from __future__ import annotations

import asyncio
import random

import grpc
import pytest
from session_client import SessionClient

from session_core.app import RunningCore
from session_proto.session.v1 import session_service_pb2 as pb
from tests.service.conftest import MakeService
from tests.service.harness import GatedProxy

SERVICE = pb.DESCRIPTOR.services_by_name["SessionService"]
ANSWERS_PER_RPC = 30


def _valid_request(method: str) -> bytes:
    """A plausible request to mutate: every string field set, a payload, a validator."""
    examples: dict[str, bytes] = {
        "CreateSession": pb.CreateSessionRequest(
            user_id="u", access_token_payload={"a": [1, "x", {"b": None}]}
        ).SerializeToString(),
        "GetSession": pb.GetSessionRequest(
            access_token="a.b.c",
            claim_validators=[
                pb.ClaimValidator(id="i", has_value={"key": "k", "value": {"number_value": 1}})
            ],
        ).SerializeToString(),
        "SetClaimValue": pb.SetClaimValueRequest(
            session_handle="h", claim_key="k", value={"string_value": "v"}
        ).SerializeToString(),
    }
    return examples.get(method, b"\x0a\x01h")


def _mutations(rng: random.Random, seed: bytes) -> list[bytes]:
    out: list[bytes] = []
    for _ in range(ANSWERS_PER_RPC):
        if rng.random() < 0.5:
            out.append(rng.randbytes(rng.randint(0, 64)))
        else:
            data = bytearray(seed)
            for _ in range(rng.randint(1, 4)):
                if data:
                    data[rng.randrange(len(data))] = rng.randrange(256)
            out.append(bytes(data))
    return out


async def test_random_and_mutated_requests_never_get_internal_or_unknown(
    channel: grpc.aio.Channel,
) -> None:
    rng = random.Random(20261128)
    codes: dict[grpc.StatusCode, int] = {}
    for method in SERVICE.methods:
        call = channel.unary_unary(
            f"/{SERVICE.full_name}/{method.name}",
            request_serializer=None,
            response_deserializer=None,
        )
        for body in _mutations(rng, _valid_request(method.name)):
            try:
                await call(body, timeout=10)
                code = grpc.StatusCode.OK
            except grpc.aio.AioRpcError as exc:
                code = exc.code()
                assert code is grpc.StatusCode.INVALID_ARGUMENT, (method.name, body, exc.details())
            codes[code] = codes.get(code, 0) + 1
    # Both outcomes must actually occur, or the inputs were not varied enough.
    assert set(codes) == {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT}


async def test_concurrency_cap_answers_resource_exhausted(
    make_service: MakeService, core: RunningCore
) -> None:
    proxy = GatedProxy(core.url, "/recipe/session")
    await proxy.start()
    try:
        service = await make_service(core_url=proxy.url, max_concurrent_rpcs=1)
        async with SessionClient.insecure(service.address) as client:
            held = asyncio.create_task(client.create_session("user-1"))
            await proxy.arrived.wait()
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await client.create_session("user-2")
            assert raised.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
            proxy.release.set()
            created = await held
        assert created.session.user_id == "user-1"
    finally:
        await proxy.stop()
