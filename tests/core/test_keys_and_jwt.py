"""Signing keys, their rotation and the JWKS (GET /.well-known/jwks.json), signed JWTs
(POST /recipe/jwt), and legacy v2 access tokens."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from typing import Any

import jwt as pyjwt
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.core.conftest import CoreClient
from tests.core.tokens import jwt_header, jwt_payload

HOUR = 3_600_000
INTERVAL = 168 * HOUR
OVERLAP = 60_000
V2_HEADER = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsInZlcnNpb24iOiIyIn0="


def h(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


async def _jwks(core: CoreClient) -> list[dict[str, str]]:
    r = await core.http.get("/.well-known/jwks.json")  # no headers at all, like the SDK
    assert r.status_code == 200
    body = r.json()
    assert list(body) == ["keys"]
    keys: list[dict[str, str]] = body["keys"]
    return keys


def _kids(keys: list[dict[str, str]]) -> list[str]:
    return [k["kid"] for k in keys]


async def test_fresh_core_publishes_one_dynamic_and_one_static_key(core: CoreClient) -> None:
    keys = await _jwks(core)
    assert len(keys) == 2
    assert keys[0]["kid"] == f"d-{core.clock.now_ms()}"
    assert keys[1]["kid"].startswith("s-")
    for key in keys:
        assert set(key) == {"kty", "kid", "n", "e", "alg", "use"}
        assert (key["kty"], key["alg"], key["use"], key["e"]) == ("RSA", "RS256", "sig", "AQAB")
        modulus = base64.urlsafe_b64decode(key["n"] + "=" * (-len(key["n"]) % 4))
        assert len(modulus) == 256 and modulus[0] != 0  # 2048 bits, unsigned
        assert "=" not in key["n"]
    deprecated = await core.ok("GET", "/recipe/jwt/jwks")
    assert deprecated == {"keys": keys, "status": "OK"}


async def test_access_token_kids_are_published_and_verify_with_pyjwt(core: CoreClient) -> None:
    keys = {k["kid"]: k for k in await _jwks(core)}
    for dynamic in (True, False):
        token = (await core.create(useDynamicSigningKey=dynamic))["accessToken"]["token"]
        kid = jwt_header(token)["kid"]
        assert kid in keys
        claims = pyjwt.decode(
            token,
            pyjwt.PyJWK(keys[kid]).key,
            algorithms=["RS256"],
            options={"verify_exp": False, "verify_iat": False},
        )
        assert claims["sub"] == "user-1"


async def test_jwks_cache_control(core: CoreClient) -> None:
    r = await core.http.get("/.well-known/jwks.json")
    assert r.headers["cache-control"] == "max-age=60, must-revalidate"
    core.clock.advance(INTERVAL - OVERLAP - 30_000)
    r = await core.http.get("/.well-known/jwks.json")
    assert r.headers["cache-control"] == "max-age=30, must-revalidate"


async def test_rotation_publishes_before_use_and_keeps_old_tokens_valid(core: CoreClient) -> None:
    t0 = core.clock.now_ms()
    dynamic_before = await core.create("dyn")
    static_before = await core.create("stat", useDynamicSigningKey=False)
    old_kid, static_kid = f"d-{t0}", jwt_header(static_before["accessToken"]["token"])["kid"]

    core.clock.set(t0 + INTERVAL - OVERLAP - 1)
    assert len(await _jwks(core)) == 2
    core.clock.advance(2)  # the next key is due
    new_kid = f"d-{core.clock.now_ms()}"
    assert _kids(await _jwks(core)) == [new_kid, old_kid, static_kid]

    # Published, but not used yet: verifiers that fetched the JWKS a minute ago must cope.
    during_overlap = await core.create("dyn")
    assert jwt_header(during_overlap["accessToken"]["token"])["kid"] == old_kid
    # The old key signs until its own interval ends (the new key is then ~overlap old).
    core.clock.set(t0 + INTERVAL - 1)
    assert jwt_header((await core.create())["accessToken"]["token"])["kid"] == old_kid
    core.clock.advance(1)
    after = await core.create("dyn")
    assert jwt_header(after["accessToken"]["token"])["kid"] == new_kid

    # Tokens signed by the previous key still verify.
    assert (await core.verify(during_overlap["accessToken"]["token"]))["status"] == "OK"
    # Refreshed dynamic sessions move to the new key; static ones keep theirs.
    refreshed = await core.refresh(dynamic_before["refreshToken"]["token"])
    assert jwt_header(refreshed["accessToken"]["token"])["kid"] == new_kid
    refreshed_static = await core.refresh(static_before["refreshToken"]["token"])
    assert jwt_header(refreshed_static["accessToken"]["token"])["kid"] == static_kid


async def test_concurrent_requests_at_rotation_make_one_key(core: CoreClient) -> None:
    t0 = core.clock.now_ms()
    core.clock.set(t0 + INTERVAL - OVERLAP + 1)
    created = await asyncio.gather(*(core.create(f"u{i}") for i in range(16)))
    verified = await asyncio.gather(*(core.verify(c["accessToken"]["token"]) for c in created))
    assert all(v["status"] == "OK" for v in verified)
    assert {jwt_header(c["accessToken"]["token"])["kid"] for c in created} == {f"d-{t0}"}
    assert len(await core.core.storage.get_dynamic_keys()) == 2


async def test_old_dynamic_key_expires_and_is_deleted(core: CoreClient) -> None:
    t0 = core.clock.now_ms()
    core.clock.set(t0 + INTERVAL - OVERLAP + 1)
    assert len(await _jwks(core)) == 3
    lifetime = INTERVAL + 2 * HOUR
    core.clock.set(t0 + lifetime)
    assert f"d-{t0}" in _kids(await _jwks(core))  # still inside its lifetime
    assert await core.core.signing_keys.delete_expired() == 0
    core.clock.advance(1)
    assert f"d-{t0}" not in _kids(await _jwks(core))
    assert await core.core.signing_keys.delete_expired() == 1
    assert len(await core.core.storage.get_dynamic_keys()) == 1


# -- /recipe/jwt --------------------------------------------------------------------------------


async def _create_jwt(core: CoreClient, **body: Any) -> dict[str, Any]:
    request = {"payload": {"a": 1}, "algorithm": "RS256", "jwksDomain": "https://api", **body}
    request["validity"] = request.get("validity", 100)
    return await core.ok("POST", "/recipe/jwt", request)


async def test_create_jwt_claims_header_and_keys(core: CoreClient) -> None:
    now_s = core.clock.now_ms() // 1000
    keys = {k["kid"]: k for k in await _jwks(core)}
    reply = await _create_jwt(core, payload={"a": 1, "iat": 5, "exp": 6})
    assert set(reply) == {"status", "jwt"} and reply["status"] == "OK"
    header, claims = jwt_header(reply["jwt"]), jwt_payload(reply["jwt"])
    assert set(header) == {"alg", "typ", "kid"}  # no "version": not a session token
    assert header["kid"].startswith("s-")
    assert claims == {"a": 1, "iss": "https://api", "iat": now_s, "exp": now_s + 100}
    decoded = pyjwt.decode(
        reply["jwt"],
        pyjwt.PyJWK(keys[header["kid"]]).key,
        algorithms=["RS256"],
        options={"verify_exp": False, "verify_iat": False},
    )
    assert decoded["a"] == 1
    assert len(await _jwks(core)) == 2  # no key per JWT


async def test_create_jwt_options(core: CoreClient) -> None:
    issuer = await _create_jwt(core, payload={"iss": "mine"})
    assert jwt_payload(issuer["jwt"])["iss"] == "mine"
    static = await _create_jwt(core, useStaticSigningKey=True)
    dynamic = await _create_jwt(core, useStaticSigningKey=False)
    assert jwt_header(static["jwt"])["kid"].startswith("s-")
    assert jwt_header(dynamic["jwt"])["kid"] == f"d-{core.clock.now_ms()}"
    # supertokens-python 0.14.0 sends the snake_case name, which the core ignores.
    snake = await _create_jwt(core, use_static_signing_key=False)
    assert jwt_header(snake["jwt"])["kid"].startswith("s-")
    lower = await _create_jwt(core, algorithm="rs256")
    assert lower["status"] == "OK"
    assert await _create_jwt(core, algorithm="HS256") == {"status": "UNSUPPORTED_ALGORITHM_ERROR"}


async def test_create_jwt_validity_must_be_positive(core: CoreClient) -> None:
    for validity in (0, -5):
        r = await core.post(
            "/recipe/jwt",
            {"payload": {}, "algorithm": "RS256", "jwksDomain": "d", "validity": validity},
        )
        assert (r.status_code, r.text) == (400, "validity must be greater than or equal to 0\n")


async def test_a_recipe_jwt_is_not_a_session_token(core: CoreClient) -> None:
    token = (await _create_jwt(core))["jwt"]
    assert (await core.verify(token))["status"] == "TRY_REFRESH_TOKEN"


# -- legacy v2 access tokens ------------------------------------------------------------------


async def _private_key(core: CoreClient, *, static: bool = False) -> rsa.RSAPrivateKey:
    if static:
        key_string = (await core.core.storage.get_static_keys("RS256"))[0].key_string
    else:
        key_string = (await core.core.storage.get_dynamic_keys())[0].value
    key = serialization.load_der_private_key(
        base64.b64decode(key_string.split("|")[1]), password=None
    )
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def _craft_v2(key: rsa.RSAPrivateKey, payload: dict[str, Any]) -> str:
    body = base64.b64encode(json.dumps(payload).encode()).decode()
    signature = key.sign(f"{V2_HEADER}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{V2_HEADER}.{body}.{base64.b64encode(signature).decode()}"


def _v2_payload(created: dict[str, Any], now: int, **kw: Any) -> dict[str, Any]:
    payload = {
        "sessionHandle": created["session"]["handle"],
        "userId": created["session"]["userId"],
        "refreshTokenHash1": h(created["refreshToken"]["token"]),
        "parentRefreshTokenHash1": None,
        "userData": {"legacy": True, "nullProp": None},
        "antiCsrfToken": None,
        "expiryTime": now + HOUR,
        "timeCreated": now,
    }
    payload.update(kw)
    return payload


async def test_v2_token_verifies_with_any_stored_key(core: CoreClient) -> None:
    created = await core.create("legacy")
    now = core.clock.now_ms()
    for static in (False, True):
        token = _craft_v2(await _private_key(core, static=static), _v2_payload(created, now))
        reply = await core.verify(token)
        assert reply == {
            "status": "OK",
            "session": {
                "handle": created["session"]["handle"],
                "userId": "legacy",
                "userDataInJWT": {"legacy": True, "nullProp": None},
            },
        }


async def test_v2_token_failures(core: CoreClient) -> None:
    created = await core.create("legacy")
    now = core.clock.now_ms()
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert (await core.verify(_craft_v2(other, _v2_payload(created, now))))[
        "status"
    ] == "TRY_REFRESH_TOKEN"
    expired = _craft_v2(await _private_key(core), _v2_payload(created, now, expiryTime=now - 1))
    assert await core.verify(expired) == {
        "status": "TRY_REFRESH_TOKEN",
        "message": "Access token expired",
    }
    incomplete = _v2_payload(created, now)
    del incomplete["timeCreated"]
    assert (await core.verify(_craft_v2(await _private_key(core), incomplete)))[
        "status"
    ] == "TRY_REFRESH_TOKEN"


async def test_v2_promotion_stays_v2_and_refresh_migrates_to_v3(core: CoreClient) -> None:
    created = await core.create("legacy", jwt={"db": 1})
    refreshed = await core.refresh(created["refreshToken"]["token"])
    now = core.clock.now_ms()
    v2 = _craft_v2(
        await _private_key(core),
        _v2_payload(
            created,
            now,
            refreshTokenHash1=h(refreshed["refreshToken"]["token"]),
            parentRefreshTokenHash1=h(created["refreshToken"]["token"]),
        ),
    )
    promoted = await core.verify(v2)
    new_token = promoted["accessToken"]["token"]
    header, body, _ = new_token.split(".")
    assert header == V2_HEADER
    claims = json.loads(base64.b64decode(body, validate=True))
    assert claims["userData"] == {"db": 1} and claims["parentRefreshTokenHash1"] is None
    assert claims["expiryTime"] == now + HOUR and claims["timeCreated"] == now
    assert (await core.verify(new_token))["status"] == "OK"
    migrated = await core.refresh(refreshed["refreshToken"]["token"])
    assert jwt_header(migrated["accessToken"]["token"])["version"] == "3"
