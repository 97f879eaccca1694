"""Unknown kids and kid-less tokens cannot turn the core into a database amplifier: however
many forged tokens arrive, the signing keys are re-read at most once per cooldown, and a key
another core rotates in is still found (it is stored ``overlap`` before it signs)."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid

from session_common.clock import ManualClock
from session_core.signing_keys import KID_RELOAD_COOLDOWN_MS
from tests.core.conftest import CoreClient, CoreFactory
from tests.core.tokens import jwt_header

INTERVAL = 168 * 3_600_000
OVERLAP = 60_000
V2_HEADER = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsInZlcnNpb24iOiIyIn0="


def _with_kid(token: str, kid: str) -> str:
    """The token with only its header's kid replaced (its signature no longer matches)."""
    header = {**jwt_header(token), "kid": kid}
    encoded = base64.urlsafe_b64encode(json.dumps(header).encode()).rstrip(b"=").decode()
    return encoded + token[token.index(".") :]


def _v2_forgery() -> str:
    """A structurally valid legacy token (no kid) with a signature no key made."""
    payload = {
        "sessionHandle": str(uuid.uuid4()),
        "userId": "u",
        "refreshTokenHash1": "h",
        "userData": {},
        "expiryTime": 2**40,
        "timeCreated": 1,
    }
    body = base64.b64encode(json.dumps(payload).encode()).decode()
    return f"{V2_HEADER}.{body}.{base64.b64encode(uuid.uuid4().bytes * 16).decode()}"


async def _flood(core: CoreClient, tokens: list[str]) -> None:
    replies = await asyncio.gather(*(core.verify(t) for t in tokens))
    assert {r["status"] for r in replies} == {"TRY_REFRESH_TOKEN"}


async def test_unknown_kid_flood_reloads_keys_at_most_once_per_cooldown(
    make_core: CoreFactory,
) -> None:
    core = await make_core()
    token = (await core.create("victim"))["accessToken"]["token"]
    keys = core.core.signing_keys
    before = keys.reloads

    forged = [_with_kid(token, f"{p}-{uuid.uuid4()}") for p in ("d", "s") for _ in range(100)]
    forged += [_v2_forgery() for _ in range(50)]
    forged += [_with_kid(token, kid) for kid in ("d-../../etc/passwd", "d-1' OR '1'='1")]
    await _flood(core, forged)
    assert keys.reloads - before == 1
    jwks = await asyncio.gather(*(core.http.get("/.well-known/jwks.json") for _ in range(50)))
    assert {r.status_code for r in jwks} == {200}
    assert keys.reloads - before == 1

    core.clock.advance(KID_RELOAD_COOLDOWN_MS)
    await _flood(core, forged)
    assert keys.reloads - before == 2
    # The real token was never affected.
    assert (await core.verify(token))["status"] == "OK"


async def test_key_from_another_core_is_found_right_after_a_flood(
    make_core: CoreFactory,
) -> None:
    clock = ManualClock()
    a = await make_core(clock=clock)
    b = await make_core(clock=clock)
    t0 = clock.now_ms()
    first = (await a.create("before"))["accessToken"]["token"]

    # A stores its next key (published, not yet signing) ...
    clock.set(t0 + INTERVAL - OVERLAP + 1)
    await a.create()
    # ... B is flooded: its one reload sees A's new key, later ones are suppressed ...
    await _flood(b, [_with_kid(first, f"d-{uuid.uuid4()}") for _ in range(100)])
    # ... and once A signs with the new key, B verifies it without another reload.
    clock.set(t0 + INTERVAL)
    reloads = b.core.signing_keys.reloads
    rotated = (await a.create("rotated"))["accessToken"]["token"]
    assert jwt_header(rotated)["kid"] != jwt_header(first)["kid"]
    assert (await b.verify(rotated))["session"]["userId"] == "rotated"
    assert b.core.signing_keys.reloads == reloads


async def test_no_overlap_means_no_cooldown(make_core: CoreFactory) -> None:
    """With overlap 0 a new key signs at once, so every miss must still reach the DB."""
    core = await make_core(dynamic_signing_key_overlap_ms=0)
    token = (await core.create())["accessToken"]["token"]
    before = core.core.signing_keys.reloads
    await _flood(core, [_with_kid(token, f"d-{i}") for i in range(5)])
    assert core.core.signing_keys.reloads - before == 5
