"""Sessions created through the service, and access tokens minted with the core's own key
as the core would issue them, to load the service with."""

from __future__ import annotations

import asyncio
import multiprocessing
import time
import uuid

import grpc
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bench.harness import split_evenly
from session_core.access_token import AccessTokenInfo, encode_access_token
from session_core.app import start_core
from session_core.config import CoreConfig
from session_core.crypto import SigningKey
from session_proto.session.v1 import session_service_pb2 as pb


async def _create_sessions(address: str, count: int) -> list[pb.CreateSessionResponse]:
    async with grpc.aio.insecure_channel(address) as channel:
        create = channel.unary_unary(
            "/session.v1.SessionService/CreateSession",
            request_serializer=pb.CreateSessionRequest.SerializeToString,
            response_deserializer=pb.CreateSessionResponse.FromString,
        )
        created: list[pb.CreateSessionResponse] = []
        for start in range(0, count, 32):
            batch = [
                create(pb.CreateSessionRequest(user_id=f"pool-{uuid.uuid4().hex[:12]}"))
                for _ in range(min(32, count - start))
            ]
            created.extend(await asyncio.gather(*batch))
        return created


def create_sessions(address: str, count: int) -> list[pb.CreateSessionResponse]:
    return asyncio.run(_create_sessions(address, count))


def _mint_chunk(
    private_der: bytes, kid: str, created_at_ms: int, start: int, count: int
) -> list[str]:
    private_key = serialization.load_der_private_key(private_der, password=None)
    assert isinstance(private_key, rsa.RSAPrivateKey)
    key = SigningKey(kid, private_key, private_key.public_key(), created_at_ms)
    now_ms = int(time.time() * 1000)
    tokens = []
    for index in range(start, start + count):
        info = AccessTokenInfo(
            version=3,
            session_handle=str(uuid.uuid4()),
            user_id=f"memory-{index}",
            refresh_token_hash_1=uuid.uuid4().hex * 2,
            parent_refresh_token_hash_1=None,
            anti_csrf_token=None,
            user_data={"iss": "http://localhost:3001/auth", "role": "user"},
            expiry_ms=now_ms + 3_600_000,
            time_created_ms=now_ms,
        )
        tokens.append(encode_access_token(info, key).token)
    return tokens


async def _signing_key(database_url: str) -> SigningKey:
    """The core's current dynamic key, read by a second core on the same database."""
    core = await start_core(CoreConfig(host="127.0.0.1", port=0, database=database_url))
    try:
        return core.signing_keys.dynamic_signing_key()
    finally:
        await core.stop()


def mint_tokens(database_url: str, count: int, processes: int) -> list[str]:
    """``count`` distinct access tokens signed with the core's own key, as the core would
    issue them (creating that many sessions through the core would take minutes)."""
    key = asyncio.run(_signing_key(database_url))
    private_der = key.private_key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    shares = split_evenly(count, processes)
    starts = [sum(shares[:i]) for i in range(processes)]
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        chunks = pool.starmap(
            _mint_chunk,
            [
                (private_der, key.kid, key.created_at_ms, s, n)
                for s, n in zip(starts, shares, strict=True)
            ],
        )
    return [token for chunk in chunks for token in chunk]
