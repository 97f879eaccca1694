"""Two cores (two processes' worth of state) on one database agree on everything:
sessions, the refresh-token master key and the signing keys (a core that meets an unknown
kid reloads the keys from the database once, as the SuperTokens core does for keys another
instance created)."""

from __future__ import annotations

import asyncio

from session_common.clock import ManualClock
from session_core.storage import open_storage
from tests.core.conftest import CoreFactory
from tests.core.tokens import jwt_header

INTERVAL = 168 * 3_600_000
OVERLAP = 60_000


async def test_session_lifecycle_across_two_cores(make_core: CoreFactory) -> None:
    clock = ManualClock()
    a = await make_core(clock=clock)
    b = await make_core(clock=clock)
    created = await a.create("shared", jwt={"x": 1}, anti_csrf=True)
    assert (await b.verify(created["accessToken"]["token"]))["session"] == created["session"]

    # B opens a refresh token A made (one master key), A promotes it on verify.
    refreshed = await b.refresh(
        created["refreshToken"]["token"], anti_csrf=True, csrf_token=created["antiCsrfToken"]
    )
    assert refreshed["status"] == "OK"
    promoted = await a.verify(refreshed["accessToken"]["token"])
    assert "accessToken" in promoted
    # Theft seen by B after A promoted.
    theft = await b.refresh(created["refreshToken"]["token"], anti_csrf=False)
    assert theft["status"] == "TOKEN_THEFT_DETECTED"

    revoked = await b.ok("POST", "/recipe/session/remove", {"userId": "shared"})
    assert revoked["sessionHandlesRevoked"] == [created["session"]["handle"]]
    gone = await a.verify(promoted["accessToken"]["token"], check_database=True)
    assert gone["status"] == "UNAUTHORISED"
    assert (await a.refresh(refreshed["refreshToken"]["token"]))["status"] == "UNAUTHORISED"


async def test_key_rotated_by_one_core_is_found_by_the_other(make_core: CoreFactory) -> None:
    clock = ManualClock()
    a = await make_core(clock=clock)
    b = await make_core(clock=clock)
    t0 = clock.now_ms()
    jwks_before = (await b.http.get("/.well-known/jwks.json")).json()
    assert (await a.http.get("/.well-known/jwks.json")).json() == jwks_before
    assert len(jwks_before["keys"]) == 2

    # A rotates; once the overlap has passed its new tokens use a kid B has never loaded.
    clock.set(t0 + INTERVAL - OVERLAP + 1)
    await a.create()
    clock.set(t0 + INTERVAL)
    token = (await a.create("rotated"))["accessToken"]["token"]
    new_kid = jwt_header(token)["kid"]
    assert new_kid != f"d-{t0}"
    assert new_kid not in {k.kid for k in b.core.signing_keys.verification_keys()}
    assert (await b.verify(token))["session"]["userId"] == "rotated"  # kid miss -> reload
    kids = [k["kid"] for k in (await b.http.get("/.well-known/jwks.json")).json()["keys"]]
    assert kids[:2] == [new_kid, f"d-{t0}"]

    # B, due for rotation too, adopts A's key instead of making another.
    refreshed = await b.create()
    assert jwt_header(refreshed["accessToken"]["token"])["kid"] == new_kid
    assert len(await b.core.storage.get_dynamic_keys()) == 2


async def test_cores_starting_together_agree_on_keys(
    make_core: CoreFactory, database_url: str
) -> None:
    # The schema is created first: concurrent first-time migrations are the storage layer's
    # concern (tested there); this test races the creation of the signing keys.
    await (await open_storage(database_url)).close()
    clock = ManualClock()
    a, b = await asyncio.gather(make_core(clock=clock), make_core(clock=clock))
    jwks_a = (await a.http.get("/.well-known/jwks.json")).json()
    jwks_b = (await b.http.get("/.well-known/jwks.json")).json()
    assert jwks_a == jwks_b and len(jwks_a["keys"]) == 2
    created = await a.create(useDynamicSigningKey=False)
    assert (await b.verify(created["accessToken"]["token"]))["status"] == "OK"
    assert (await b.refresh(created["refreshToken"]["token"]))["status"] == "OK"
