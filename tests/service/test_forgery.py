"""Forged access and refresh tokens, end to end over gRPC against the real core.

Every attack is sent the ways a caller can send it (GetSession as is, with
``check_database``, with ``session_required=false``) and must get exactly the status (and
SDK message) that supertokens-python 0.14.0 gives: none is accepted, none produces
INTERNAL/UNKNOWN. The same tokens also go straight to the core's verify endpoint, which must
never answer OK or 500. Counts go to ``tests.reliability.STATS``.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from pathlib import Path

import grpc
import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from session_client import SessionClient, SessionStatus

from session_common.clock import ManualClock
from session_core.app import RunningCore
from session_proto.session.v1 import session_service_pb2 as pb
from session_service.domain.config import DomainConfig
from session_service.server import RunningService
from testkit.sdk_venv import sdk_python
from testkit.venvs import run_json
from tests.reliability import STATS
from tests.service.forged_tokens import NO_KEY, PARSE_FAILED, Expected, Kit, attacks

# The service's default token size bound (a deliberate limit the SDK does not have).
MAX_TOKEN_BYTES = DomainConfig(api_domain="http://localhost:3001").max_access_token_bytes
ORACLE = Path(__file__).parents[1] / "sdk" / "sdk_parse_oracle.py"


@pytest.fixture
def foreign_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
async def kit(
    client: SessionClient, core: RunningCore, clock: ManualClock, foreign_key: rsa.RSAPrivateKey
) -> Kit:
    created = await client.create_session("victim", {"role": "user"})
    now_s = clock.now_ms() // 1000 + 1  # whole seconds make the time boundaries exact
    clock.set(now_s * 1000)
    return Kit(
        key=core.signing_keys.dynamic_signing_key(),
        static=core.signing_keys.static_signing_key(),
        foreign=foreign_key,
        payload=dict(created.session.access_token_payload),
        now_s=now_s,
    )


async def test_baseline_forgery_with_the_real_key_verifies(kit: Kit, client: SessionClient) -> None:
    """The harness is sound: only what an attack changes can make it fail."""
    assert (await client.get_session(kit.signed())).status is SessionStatus.OK


def _sdk_parse_boundary(tokens: list[str]) -> list[str]:
    """What the SDK itself does before any key or time check (tests/sdk/sdk_parse_oracle.py)."""
    boundary: list[str] = run_json(sdk_python(), ORACLE, tokens, timeout_seconds=120)
    return boundary


def _reference(token: str, expected: Expected, boundary: str) -> Expected:
    """The reference outcome: the SDK's own parse boundary decides UNAUTHORISED versus
    TRY_REFRESH_TOKEN (PyJWT's DecodeError text is not compared); past it, the outcome the
    attack was built to hit. One deliberate difference: the service refuses tokens over
    its size bound before decoding them (the SDK has no bound)."""
    if boundary == "parse" or len(token) > MAX_TOKEN_BYTES:
        return PARSE_FAILED
    if boundary == "load" or expected == PARSE_FAILED:
        return (SessionStatus.TRY_REFRESH_TOKEN, None)
    return expected


async def _outcomes(
    client: SessionClient, kit: Kit
) -> list[tuple[str, str, tuple[SessionStatus, str], Expected]]:
    """(attack, how it was sent, what the service said, what the reference says)."""
    cases = attacks(kit)
    boundaries = await asyncio.to_thread(_sdk_parse_boundary, [t for _, t, _ in cases])
    out = []
    for (name, token, expected), boundary in zip(cases, boundaries, strict=True):
        reference = _reference(token, expected, boundary)
        for how, check_database, required in (
            ("as is", False, None),
            ("check_database", True, None),
            ("session optional", False, False),
        ):
            result = await client.get_session(
                token, check_database=check_database, session_required=required
            )
            STATS["attacks tried"] += 1
            STATS["forgeries accepted"] += result.status is SessionStatus.OK
            want = reference
            if how == "session optional" and reference == PARSE_FAILED:
                want = (SessionStatus.NO_SESSION, None)
            out.append((name, how, (result.status, result.message), want))
    return out


def _matches(got: tuple[SessionStatus, str], want: Expected) -> bool:
    return got[0] is want[0] and (want[1] is None or got[1] == want[1])


async def test_no_forged_access_token_is_accepted(
    kit: Kit, client: SessionClient, service: RunningService, core: RunningCore
) -> None:
    outcomes = await _outcomes(client, kit)
    accepted = [(name, how) for name, how, got, _ in outcomes if got[0] is SessionStatus.OK]
    assert accepted == []
    assert {got[0] for _, _, got, _ in outcomes} <= {
        SessionStatus.UNAUTHORISED,
        SessionStatus.TRY_REFRESH_TOKEN,
        SessionStatus.NO_SESSION,
    }
    # Exactly the reference outcome, except where only the reference's base64 strictness
    # boundary is at stake (TRY_REFRESH_TOKEN with PyJWT's text; see the next test).
    wrong = [
        o
        for o in outcomes
        if not _matches(o[2], o[3]) and o[3] != (SessionStatus.TRY_REFRESH_TOKEN, None)
    ]
    assert wrong == [], "\n".join(map(repr, wrong))
    assert service.servicer.internal_errors == 0
    # Legacy v2 forgeries were sent to the core, as the SDK does; no v3 one was.
    assert core.requests["/recipe/session/verify"] > 0


async def test_base64_strictness_boundary_matches_the_sdk(kit: Kit, client: SessionClient) -> None:
    outcomes = await _outcomes(client, kit)
    wrong = [o for o in outcomes if not _matches(o[2], o[3])]
    assert wrong == [], "\n".join(map(repr, wrong))


async def test_core_refuses_every_forged_token(kit: Kit, core: RunningCore) -> None:
    """The core's own verify endpoint, called directly (as any SDK would)."""
    async with httpx.AsyncClient(base_url=core.url, timeout=30) as http:
        for name, token, _ in attacks(kit):
            if _signed_by_a_real_key(kit, token):
                # Made with the core's private key to isolate one verifier check: not a
                # forgery, and the core (like SuperTokens') does not apply PyJWT's checks.
                continue
            for check_database in (False, True):
                reply = await http.post(
                    "/recipe/session/verify",
                    json={
                        "accessToken": token,
                        "enableAntiCsrf": False,
                        "doAntiCsrfCheck": False,
                        "checkDatabase": check_database,
                    },
                    headers={"cdi-version": "2.21", "rid": "session"},
                )
                STATS["attacks tried"] += 1
                assert reply.status_code in (200, 400), (name, reply.status_code)
                if reply.status_code == 200:
                    status = reply.json()["status"]
                    STATS["forgeries accepted"] += status == "OK"
                    assert status in ("TRY_REFRESH_TOKEN", "UNAUTHORISED"), (name, status)


def _signed_by_a_real_key(kit: Kit, token: str) -> bool:
    parts = token.split(".")
    if len(parts) != 3:
        return False
    signing_input = f"{parts[0]}.{parts[1]}".encode("utf-8", "surrogateescape")
    try:
        signature = base64.urlsafe_b64decode(parts[2].replace("+", "-").replace("/", "_") + "==")
    except ValueError:
        return False
    return any(key.verify(signature, signing_input) for key in (kit.key, kit.static))


async def test_tokens_beyond_the_message_limit(kit: Kit, client: SessionClient) -> None:
    token = kit.signed(payload=kit.claims(pad="x" * 70_000))
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await client.get_session(token)
    STATS["attacks tried"] += 1
    assert raised.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_invalid_utf8_token_is_invalid_argument(channel: grpc.aio.Channel) -> None:
    call = channel.unary_unary(
        "/session.v1.SessionService/GetSession",
        request_serializer=lambda b: b,
        response_deserializer=pb.GetSessionResponse.FromString,
    )
    for raw in (b"\xff\xfe", b"a.b\xc3.c", b"\xed\xa0\x80"):  # includes a UTF-16 surrogate
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await call(b"\x0a" + bytes([len(raw)]) + raw, timeout=10)
        STATS["attacks tried"] += 1
        assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT


async def test_random_kid_flood_fetches_keys_a_bounded_number_of_times(
    kit: Kit, client: SessionClient, core: RunningCore, clock: ManualClock
) -> None:
    await client.get_session(kit.signed())  # keys cached
    jwks_before = core.requests["/.well-known/jwks.json"]
    verify_before = core.requests["/recipe/session/verify"]
    rounds = 3
    for _ in range(rounds):
        tokens = [kit.signed(kit.header(kid=f"d-{uuid.uuid4()}")) for _ in range(300)]
        results = await asyncio.gather(*(client.get_session(t) for t in tokens))
        STATS["attacks tried"] += len(tokens)
        assert {(r.status, r.message) for r in results} == {NO_KEY}
        clock.advance(500)  # one refetch cooldown
    # At most one fetch per cooldown, whatever the number of kids; none hit the core's verify.
    assert core.requests["/.well-known/jwks.json"] - jwks_before <= rounds
    assert core.requests["/recipe/session/verify"] == verify_before
    assert (await client.get_session(kit.signed())).status is SessionStatus.OK


async def test_no_forged_refresh_token_is_accepted(
    client: SessionClient, service: RunningService
) -> None:
    created = await client.create_session("victim")
    real = created.refresh_token.token
    other = (await client.create_session("attacker")).refresh_token.token
    candidates = [
        "x",
        "a" * 64,
        real[:-1],
        real[:-2] + ("A" if real[-2] != "A" else "B") + real[-1],
        real[1:],
        real + real,
        real.upper(),
        real + ".",
        "." + real,
        real.replace(".", ".x", 1),
        created.session.access_token,
        "é" * 100,
        "\u0000" * 10,
        "../../etc/passwd",
        "' OR '1'='1",
        "A" * 20_000,
        base64.b64encode(b"\x00" * 300).decode(),
        other[: len(other) // 2] + real[len(real) // 2 :],
    ]
    for token in candidates:
        result = await client.refresh_session(token)
        STATS["attacks tried"] += 1
        STATS["forgeries accepted"] += result.status is SessionStatus.OK
        assert result.status is SessionStatus.UNAUTHORISED, token[:40]
    # The real token is untouched by all that and still works.
    assert (await client.refresh_session(real)).status is SessionStatus.OK
    assert service.servicer.internal_errors == 0
