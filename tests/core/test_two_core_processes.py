"""Two ``session-core serve`` processes on one PostgreSQL database: what one process does,
the other sees (sessions, the refresh-token master key, the signing keys). Key rotation by
one core found by another on a kid miss is tested with a controlled clock in
test_two_cores.py."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from testkit.processes import core_process

HEADERS = {"cdi-version": "2.21", "rid": "session"}


async def _post(client: httpx.AsyncClient, url: str, path: str, body: dict[str, Any]) -> Any:
    response = await client.post(f"{url}{path}", json=body, headers=HEADERS)
    assert response.status_code == 200, response.text
    return response.json()


async def test_session_crosses_between_two_core_processes(
    postgres_url: str, tmp_path: Path
) -> None:
    with ExitStack() as stack:
        a = stack.enter_context(core_process(postgres_url, tmp_path))
        b = stack.enter_context(core_process(postgres_url, tmp_path))
        async with httpx.AsyncClient(timeout=30) as http:
            created = await _post(
                http,
                a,
                "/recipe/session",
                {
                    "userId": "crossing",
                    "userDataInJWT": {"k": 1},
                    "userDataInDatabase": {},
                    "enableAntiCsrf": False,
                },
            )
            token = created["accessToken"]["token"]
            verify = {"doAntiCsrfCheck": False, "enableAntiCsrf": False, "checkDatabase": True}

            # Verified by B with the key A signed with (one key set in the database).
            verified = await _post(
                http, b, "/recipe/session/verify", {**verify, "accessToken": token}
            )
            assert verified["status"] == "OK"
            assert verified["session"]["handle"] == created["session"]["handle"]
            jwks_a = (await http.get(f"{a}/.well-known/jwks.json")).json()["keys"]
            jwks_b = (await http.get(f"{b}/.well-known/jwks.json")).json()["keys"]
            assert [k["kid"] for k in jwks_a] == [k["kid"] for k in jwks_b]

            # B opens A's refresh token (one master key) and A promotes the child on verify.
            refresh_body = {
                "refreshToken": created["refreshToken"]["token"],
                "enableAntiCsrf": False,
            }
            refreshed = await _post(http, b, "/recipe/session/refresh", refresh_body)
            assert refreshed["status"] == "OK"
            promoted = await _post(
                http,
                a,
                "/recipe/session/verify",
                {**verify, "accessToken": refreshed["accessToken"]["token"]},
            )
            assert "accessToken" in promoted
            # Reusing the first refresh token after promotion is theft, seen by B.
            theft = await _post(http, b, "/recipe/session/refresh", refresh_body)
            assert theft["status"] == "TOKEN_THEFT_DETECTED"

            # Revoked through B: A refuses it with checkDatabase and on refresh.
            revoked = await _post(http, b, "/recipe/session/remove", {"userId": "crossing"})
            assert revoked["sessionHandlesRevoked"] == [created["session"]["handle"]]
            gone = await _post(
                http,
                a,
                "/recipe/session/verify",
                {**verify, "accessToken": promoted["accessToken"]["token"]},
            )
            assert gone["status"] == "UNAUTHORISED"
            refused = await _post(
                http,
                a,
                "/recipe/session/refresh",
                {"refreshToken": refreshed["refreshToken"]["token"], "enableAntiCsrf": False},
            )
            assert refused["status"] == "UNAUTHORISED"

    # Both processes started on a fresh database and raced to create the keys: one of each.
    database = await asyncpg.connect(postgres_url)
    try:
        assert (
            await database.fetchval("SELECT COUNT(*) FROM session_access_token_signing_keys") == 1
        )
        assert await database.fetchval("SELECT COUNT(*) FROM jwt_signing_keys") == 1
    finally:
        await database.close()
