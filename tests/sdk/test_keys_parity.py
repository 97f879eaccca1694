"""Signing keys and JWTs: supertokens-python 0.14.0 and the service behind the same core, where
they agree and where docs/differences.md says they do not (the JWKS unreachable, stale keys,
unknown-kid refetches, CreateJWT's signing-key choice), and legacy v2 tokens."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator

import grpc
import jwt
import pytest
from session_client import SessionClient

from session_common.clock import ManualClock
from session_core.access_token import AccessTokenInfo, encode_access_token
from session_core.app import RunningCore
from tests.faults import Fault, FaultProxy
from tests.sdk.parity import JSON, SdkOracle
from tests.service.conftest import MakeService

JWKS = "/.well-known/jwks.json"
VERIFY = "/recipe/session/verify"


@pytest.fixture
async def sdk_via_proxy(proxy: FaultProxy) -> AsyncIterator[SdkOracle]:
    oracle = await SdkOracle.start(proxy.url)
    yield oracle
    await oracle.close()


async def _status(client: SessionClient, token: str) -> str:
    """GetSession's status, or the gRPC code when the call could not be answered."""
    try:
        return (await client.get_session(token)).status.name
    except grpc.aio.AioRpcError as failure:
        return f"gRPC {failure.code().name}"


def _with_kid(token: str, kid: str) -> str:
    """``token`` under another key id (its signature no longer matters: no key has that id)."""
    header = {"alg": "RS256", "typ": "JWT", "version": "3", "kid": kid}
    encoded = base64.urlsafe_b64encode(json.dumps(header).encode()).rstrip(b"=").decode()
    return ".".join([encoded, *token.split(".")[1:]])


async def test_no_keys_at_all_is_unavailable_where_the_sdk_says_try_refresh_token(
    core: RunningCore,
    proxy: FaultProxy,
    sdk_via_proxy: SdkOracle,
    make_service: MakeService,
    clock: ManualClock,
) -> None:
    proxy.set_fault(Fault.HTTP_500, paths={JWKS})
    service = await make_service(core_url=proxy.url)
    async with SessionClient.insecure(service.address) as client:
        token = (await client.create_session("no-keys")).session.access_token
        theirs = await sdk_via_proxy.ask("get_session", now_ms=clock.now_ms(), access_token=token)
        assert theirs == {"status": "TRY_REFRESH_TOKEN"}
        assert await _status(client, token) == "gRPC UNAVAILABLE"


async def test_stale_keys_serve_up_to_the_max_stale_where_the_sdk_needs_a_fresh_fetch(
    proxy: FaultProxy,
    sdk_via_proxy: SdkOracle,
    make_service: MakeService,
    clock: ManualClock,
) -> None:
    default = await make_service(core_url=proxy.url)
    like_the_sdk = await make_service(core_url=proxy.url, jwks_max_stale_seconds=0)
    async with (
        SessionClient.insecure(default.address) as client,
        SessionClient.insecure(like_the_sdk.address) as strict,
    ):
        token = (await client.create_session("stale-keys")).session.access_token
        theirs = await sdk_via_proxy.ask("get_session", now_ms=clock.now_ms(), access_token=token)
        assert theirs["status"] == "OK"
        assert await _status(client, token) == await _status(strict, token) == "OK"

        proxy.set_fault(Fault.HTTP_500, paths={JWKS})
        clock.advance(61_000)  # past the 60 s both keep keys fresh for
        theirs = await sdk_via_proxy.ask("get_session", now_ms=clock.now_ms(), access_token=token)
        assert theirs == {"status": "TRY_REFRESH_TOKEN"}
        assert await _status(client, token) == "OK"  # --jwks-max-stale-seconds 3600
        assert await _status(strict, token) == "gRPC UNAVAILABLE"  # ... 0


async def test_unknown_kid_refetches_cool_down_from_the_last_attempt(
    proxy: FaultProxy,
    sdk_via_proxy: SdkOracle,
    make_service: MakeService,
    clock: ManualClock,
) -> None:
    service = await make_service(core_url=proxy.url)
    async with SessionClient.insecure(service.address) as client:
        token = (await client.create_session("unknown-kid")).session.access_token
        theirs = await sdk_via_proxy.ask("get_session", now_ms=clock.now_ms(), access_token=token)
        assert theirs["status"] == "OK" and await _status(client, token) == "OK"
        stranger = _with_kid(token, "d-1")

        # The core's JWKS answers: one refetch each, then each cools down.
        clock.advance(1_000)
        before = proxy.forwarded[JWKS]
        sdk_outcomes = [
            (await sdk_via_proxy.ask("get_session", now_ms=clock.now_ms(), access_token=stranger))
            for _ in range(3)
        ]
        sdk_fetches = proxy.forwarded[JWKS] - before
        before = proxy.forwarded[JWKS]
        our_outcomes = [await _status(client, stranger) for _ in range(3)]
        our_fetches = proxy.forwarded[JWKS] - before
        assert sdk_outcomes == [{"status": "TRY_REFRESH_TOKEN"}] * 3
        assert our_outcomes == ["TRY_REFRESH_TOKEN"] * 3
        assert (sdk_fetches, our_fetches) == (1, 1)

        # The core's JWKS fails: the SDK's cooldown counts from its last successful fetch, so
        # every request fetches again; the service's counts from the last attempt.
        proxy.set_fault(Fault.HTTP_500, paths={JWKS})
        clock.advance(1_000)
        before = proxy.injected[Fault.HTTP_500]
        sdk_outcomes = [
            (await sdk_via_proxy.ask("get_session", now_ms=clock.now_ms(), access_token=stranger))
            for _ in range(3)
        ]
        sdk_fetches = proxy.injected[Fault.HTTP_500] - before
        before = proxy.injected[Fault.HTTP_500]
        our_outcomes = [await _status(client, stranger) for _ in range(3)]
        our_fetches = proxy.injected[Fault.HTTP_500] - before
        assert sdk_outcomes == [{"status": "TRY_REFRESH_TOKEN"}] * 3
        assert (sdk_fetches, our_fetches) == (3, 1)
        # The attempt that failed says so; the ones in its cooldown do not try.
        assert our_outcomes == ["gRPC UNAVAILABLE", "TRY_REFRESH_TOKEN", "TRY_REFRESH_TOKEN"]
        # Tokens with known kids keep verifying all along, in both.
        theirs = await sdk_via_proxy.ask("get_session", now_ms=clock.now_ms(), access_token=token)
        assert theirs["status"] == "OK" and await _status(client, token) == "OK"


@pytest.mark.parametrize(
    ("use_static_signing_key", "sdk_prefix", "our_prefix"),
    [(None, "s-", "s-"), (True, "s-", "s-"), (False, "s-", "d-")],
)
async def test_create_jwt_key_choice(
    sdk: SdkOracle,
    client: SessionClient,
    clock: ManualClock,
    use_static_signing_key: bool | None,
    sdk_prefix: str,
    our_prefix: str,
) -> None:
    """supertokens-python 0.14.0 sends ``use_static_signing_key`` in snake case, which the core
    ignores, so its JWTs are always signed with the static key; the service sends
    ``useStaticSigningKey`` (as the Node SDK does), so false selects the dynamic key."""
    theirs = await sdk.ask(
        "create_jwt",
        now_ms=clock.now_ms(),
        payload={"scope": "read"},
        validity_seconds=60,
        use_static_signing_key=use_static_signing_key,
    )
    ours = await client.create_jwt(
        {"scope": "read"}, validity_seconds=60, use_static_signing_key=use_static_signing_key
    )
    assert theirs["status"] == ours.status.name == "OK"
    assert jwt.get_unverified_header(theirs["jwt"])["kid"][:2] == sdk_prefix
    assert jwt.get_unverified_header(ours.jwt)["kid"][:2] == our_prefix


def _v2_token(core: RunningCore, payload: JSON, *, user_id: str) -> str:
    """A legacy v2 access token for a session, signed by the core's current dynamic key,
    whose standard base64 has a character base64url does not (as almost every one has)."""
    for earlier_ms in range(1000):
        info = AccessTokenInfo(
            version=2,
            session_handle=payload["sessionHandle"],
            user_id=user_id,
            refresh_token_hash_1=payload["refreshTokenHash1"],
            parent_refresh_token_hash_1=None,
            anti_csrf_token=None,
            user_data={"legacy": True},
            expiry_ms=payload["exp"] * 1000,
            time_created_ms=payload["iat"] * 1000 - earlier_ms,
        )
        token = encode_access_token(info, core.signing_keys.dynamic_signing_key()).token
        if "+" in token or "/" in token:
            return token
    raise AssertionError("no v2 token with a '+' or '/'")


async def test_legacy_v2_tokens_verify_locally_where_the_sdk_asks_the_core(
    core: RunningCore, sdk: SdkOracle, client: SessionClient, clock: ManualClock
) -> None:
    """Both try a v2 token against every key and send one that fails to the core. The SDK's
    PyJWT (2.15.1, what its pins resolve to) refuses the standard-base64 characters of a v2
    token, so for the SDK every v2 token fails locally and costs a core call; the service
    decodes them as the standard base64 they are. Same outcomes."""
    created = await client.create_session("legacy")
    token = _v2_token(core, created.session.access_token_payload, user_id="legacy")
    forged = token[: -len("AAAA")] + "AAAA"
    for candidate, core_calls in ((token, (1, 0)), (forged, (1, 1))):
        before = core.requests[VERIFY]
        theirs = await sdk.ask("get_session", now_ms=clock.now_ms(), access_token=candidate)
        sdk_calls = core.requests[VERIFY] - before
        ours = await client.get_session(candidate)
        our_calls = core.requests[VERIFY] - before - sdk_calls
        assert (sdk_calls, our_calls) == core_calls
        assert theirs["status"] == ours.status.name
        if ours.session is not None:
            assert theirs["payload"] == ours.session.access_token_payload == {"legacy": True}
            assert theirs["user_id"] == ours.session.user_id == "legacy"
