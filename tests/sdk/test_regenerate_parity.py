"""RegenerateAccessToken: supertokens-python 0.14.0's ``regenerate_access_token`` and the
service's, on sessions of the same core, for the same inputs."""

from __future__ import annotations

import base64
import json
from typing import Any

import grpc
import jwt
import pytest
from session_client import RegenerateAccessTokenResult, SessionClient

from session_common.clock import ManualClock
from tests.sdk.parity import JSON, SdkOracle


def _claims(token: str) -> JSON:
    part = token.split(".")[1]
    claims: JSON = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return claims


def _shape(token: str, old_token: str) -> JSON:
    """What a regenerated token is, independent of its session: its custom claims, and
    whether it kept the old token's expiry and user."""
    new, old = _claims(token), _claims(old_token)
    protected = {"sub", "iat", "exp", "sessionHandle", "refreshTokenHash1"}
    protected |= {"parentRefreshTokenHash1", "antiCsrfToken"}
    return {
        "custom": {k: v for k, v in new.items() if k not in protected},
        "same_exp": new["exp"] == old["exp"],
        "same_sub": new["sub"] == old["sub"],
    }


def _ours(result: RegenerateAccessTokenResult, old_token: str) -> JSON:
    if result.status.name != "OK":
        return {"status": result.status.name}
    token = result.access_token
    return {
        "status": "OK",
        "user_data_in_jwt": result.user_data_in_jwt,
        "token": None if token is None else _shape(token.token, old_token),
    }


def _theirs(answer: JSON, old_token: str) -> JSON:
    if answer["status"] != "OK":
        return {"status": answer["status"]}
    token = answer["access_token"]
    return {
        "status": "OK",
        "user_data_in_jwt": answer["user_data_in_jwt"],
        "token": None if token is None else _shape(token, old_token),
    }


async def _pair(client: SessionClient, payload: JSON) -> tuple[Any, Any]:
    """Two identical sessions: one for the SDK to change, one for the service."""
    return (
        await client.create_session("regenerate-parity", payload),
        await client.create_session("regenerate-parity", payload),
    )


@pytest.mark.parametrize("new_payload", [{"fresh": 1}, {}, None])
async def test_regenerate_replaces_the_stored_payload_as_the_sdk(
    sdk: SdkOracle, client: SessionClient, clock: ManualClock, new_payload: JSON | None
) -> None:
    for_sdk, for_service = await _pair(client, {"old": True})
    clock.advance(5_000)
    now = clock.now_ms()
    answer = await sdk.ask(
        "regenerate_access_token",
        now_ms=now,
        access_token=for_sdk.session.access_token,
        **({} if new_payload is None else {"payload": new_payload}),
    )
    ours = await client.regenerate_access_token(for_service.session.access_token, new_payload)
    assert _ours(ours, for_service.session.access_token) == _theirs(
        answer, for_sdk.session.access_token
    )
    assert ours.user_data_in_jwt == (new_payload or {})  # no payload: {} for both
    stored = [
        await sdk.ask("get_session_information", now_ms=now, handle=created.session.session_handle)
        for created in (for_sdk, for_service)
    ]
    assert stored[0] == stored[1] == {"status": "OK", "custom_claims": new_payload or {}}


async def test_regenerate_of_an_expired_or_revoked_session_as_the_sdk(
    sdk: SdkOracle, client: SessionClient, clock: ManualClock
) -> None:
    for_sdk, for_service = await _pair(client, {"old": True})
    clock.advance(3_600_000 + 1_000)  # past the access tokens' expiry
    now = clock.now_ms()
    answer = await sdk.ask(
        "regenerate_access_token",
        now_ms=now,
        access_token=for_sdk.session.access_token,
        payload={"late": 1},
    )
    ours = await client.regenerate_access_token(for_service.session.access_token, {"late": 1})
    expired = _ours(ours, for_service.session.access_token)
    assert expired == _theirs(answer, for_sdk.session.access_token)
    assert expired == {"status": "OK", "user_data_in_jwt": {"late": 1}, "token": None}

    for created in (for_sdk, for_service):
        await client.revoke_session(created.session.session_handle)
    answer = await sdk.ask(
        "regenerate_access_token", now_ms=now, access_token=for_sdk.session.access_token
    )
    ours = await client.regenerate_access_token(for_service.session.access_token)
    assert {"status": ours.status.name} == answer == {"status": "UNAUTHORISED"}


def _forged(token: str, **changes: Any) -> str:
    """``token`` with its claims changed and its signature left as it was (so it no longer
    verifies)."""
    header, _, signature = token.split(".")
    claims = {**_claims(token), **changes}
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{body}.{signature}"


async def test_a_token_that_does_not_verify_is_refused_where_the_sdk_has_it_signed(
    sdk: SdkOracle, client: SessionClient, clock: ManualClock
) -> None:
    """The documented difference: the core signs the user id and expiry of whatever token it
    is given, so the SDK turns a forged token into a valid one; the service checks first."""
    victim = await client.create_session("victim", {"role": "user"})
    forged_exp = victim.session.access_token_payload["exp"] + 10 * 365 * 86_400
    forged = _forged(victim.session.access_token, sub="mallory", exp=forged_exp)

    ours = await client.regenerate_access_token(forged, {"role": "admin"})
    assert ours.status.name == "TRY_REFRESH_TOKEN"
    handle = victim.session.session_handle
    unchanged = await client.get_session_information(handle)
    assert unchanged.info is not None
    assert unchanged.info.custom_claims_in_access_token_payload["role"] == "user"

    answer = await sdk.ask(
        "regenerate_access_token",
        now_ms=clock.now_ms(),
        access_token=forged,
        payload={"role": "admin"},
    )
    assert answer["status"] == "OK"
    minted = answer["access_token"]
    kid = jwt.get_unverified_header(minted)["kid"]
    keys = {k.kid: k for k in (await client.get_jwks()).keys}
    public = jwt.PyJWK(
        {"kty": "RSA", "kid": kid, "n": keys[kid].n, "e": keys[kid].e, "alg": "RS256"}
    )
    claims = jwt.decode(minted, public.key, algorithms=["RS256"], options={"verify_exp": False})
    assert (claims["sub"], claims["exp"], claims["role"]) == ("mallory", forged_exp, "admin")
    # ... and the service itself would accept that minted token as mallory's session.
    accepted = await client.get_session(minted)
    assert accepted.session is not None and accepted.session.user_id == "mallory"


async def test_a_malformed_token_is_an_invalid_argument_where_the_sdk_raises(
    sdk: SdkOracle, client: SessionClient, clock: ManualClock
) -> None:
    answer = await sdk.ask("regenerate_access_token", now_ms=clock.now_ms(), access_token="x.y")
    assert answer == {"status": "RAISED", "raised": "GeneralError"}  # the core's 400
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await client.regenerate_access_token("x.y")
    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
