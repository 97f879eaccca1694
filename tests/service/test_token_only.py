"""GetSession's fast path reads the request's wire form itself (``lone_access_token``)
instead of parsing it, and the server answers a cached token before the RPC wrappers
(``transport/fast_path.py``): whatever the encoding, the answer must be the
one the parsed message calls for, and a drain must refuse even cached answers."""

from __future__ import annotations

import asyncio
import logging

import grpc
import pytest
from session_client import SessionClient, SessionStatus

from session_core.app import RunningCore
from session_proto.session.v1 import session_service_pb2 as pb
from session_service.transport.fast_path import lone_access_token
from tests.service.conftest import MakeService
from tests.service.harness import NOT_SERVING, SERVING, GatedProxy, health_watch

GET_SESSION = "/session.v1.SessionService/GetSession"


def _field_1(value: bytes) -> bytes:
    """``access_token`` (field 1, length-delimited) encoded by hand."""
    length, varint = len(value), bytearray()
    while True:
        byte, length = length & 0x7F, length >> 7
        varint.append(byte | (0x80 if length else 0))
        if not length:
            return b"\x0a" + bytes(varint) + value


@pytest.mark.parametrize("size", [0, 1, 127, 128, 800, 16_383])
def test_the_token_of_a_token_only_request_is_read_off_the_wire(size: int) -> None:
    token = "t" * size
    wire = pb.GetSessionRequest(access_token=token).SerializeToString() or _field_1(b"")
    assert lone_access_token(wire) == token.encode()


def _with_user_context() -> bytes:
    request = pb.GetSessionRequest(access_token="tok")
    request.user_context.update({"request_id": "r-1"})
    wire: bytes = request.SerializeToString()
    return wire


@pytest.mark.parametrize(
    "wire",
    [
        b"",  # no token at all
        _field_1(b"t" * 16_384),  # a three-byte length: left to the parser
        _field_1(b"tok")[:-1],  # truncated
        _field_1(b"tok") + b"\x28\x01",  # and check_database
        _field_1(b"tok") + _field_1(b"tok"),  # the field twice: the parser's "last one wins"
        pb.GetSessionRequest(access_token="tok", session_required=True).SerializeToString(),
        b"\x12\x03tok",  # anti_csrf_token alone
        b"\x0a\x83",  # a length with no second byte
        _with_user_context(),  # for the override hooks and fetch_value
        _field_1(b"tok") + b"\x42\x00",  # an empty user_context (field 8): still set
    ],
)
def test_any_other_wire_form_is_left_to_the_parser(wire: bytes) -> None:
    assert lone_access_token(wire) is None


async def test_every_encoding_of_a_request_gets_the_parsed_messages_answer(
    channel: grpc.aio.Channel, client: SessionClient
) -> None:
    created = await client.create_session("user-id", {"role": "admin"})
    token = created.session.access_token.encode()
    get = channel.unary_unary(GET_SESSION)

    async def status_of(wire: bytes) -> int:
        answer: bytes = await get(wire, timeout=10)
        return int(pb.GetSessionResponse.FromString(answer).status)

    alone = _field_1(token)
    assert await status_of(alone) == pb.SESSION_STATUS_OK
    assert await status_of(alone) == pb.SESSION_STATUS_OK  # now from the cache
    # The field twice: the last one counts, whether it is the good token or garbage.
    assert await status_of(_field_1(b"garbage") + alone) == pb.SESSION_STATUS_OK
    assert await status_of(alone + _field_1(b"garbage")) == pb.SESSION_STATUS_UNAUTHORISED
    # An explicit option next to a cached token is honoured, not served from the cache.
    no_csrf = alone + b"\x18\x00"  # anti_csrf_check = false
    assert await status_of(no_csrf) == pb.SESSION_STATUS_OK
    check_database = alone + b"\x28\x01"
    assert await status_of(check_database) == pb.SESSION_STATUS_OK
    await client.revoke_session(created.session.session_handle)
    assert await status_of(check_database) == pb.SESSION_STATUS_UNAUTHORISED


async def test_a_token_only_request_that_is_not_utf8_is_invalid_argument(
    channel: grpc.aio.Channel,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await channel.unary_unary(GET_SESSION)(_field_1(b"\xff\xfe" * 200), timeout=10)
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "session.v1.GetSessionRequest" in (raised.value.details() or "")


async def test_a_draining_service_refuses_cached_answers_too(
    make_service: MakeService, core: RunningCore, caplog: pytest.LogCaptureFixture
) -> None:
    """A repeat of a verified token is answered before the RPC wrappers; once the drain has
    begun it must be refused like any other call, and the drain's count of served RPCs
    must include the cached answers."""
    proxy = GatedProxy(core.url, "/recipe/session/refresh")
    await proxy.start()
    try:
        service = await make_service(core_url=proxy.url)
        async with grpc.aio.insecure_channel(service.address) as channel:
            client = SessionClient(channel)
            created = await client.create_session("user-1")
            token = created.session.access_token
            for _ in range(3):  # first sight, first hit (renders), then answered cached
                assert (await client.get_session(token)).status is SessionStatus.OK
            in_flight = asyncio.create_task(client.refresh_session(created.refresh_token.token))
            await proxy.arrived.wait()
            async with health_watch(channel) as watch:
                await watch.wait_for(SERVING)
                # One capture for the whole stop: its "drained" line may come as soon as the
                # refresh in flight ends, before the stop task is awaited.
                with caplog.at_level(logging.INFO, logger="session_service"):
                    stopping = asyncio.create_task(service.stop(grace=60.0))
                    # NOT_SERVING is reported as the drain begins, in the same step.
                    await watch.wait_for(NOT_SERVING)
                    with pytest.raises(grpc.aio.AioRpcError) as refused:
                        await client.get_session(token)
                    assert refused.value.code() is grpc.StatusCode.UNAVAILABLE
                    proxy.release.set()
                    assert (await in_flight).status is SessionStatus.OK
                    await stopping
    finally:
        await proxy.stop()
    assert "drained: 5 RPCs served since start, 1 refused while draining" in caplog.text
