"""A scenario that drives every path of the service that handles a secret, and the secrets a
run produced, read back from the responses and from the database, as the strings no log
line or error detail may contain."""

from __future__ import annotations

import asyncio
import re
import secrets
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import asyncpg
import grpc
import httpx
import pytest
from session_client import SessionClient, SessionStatus, has_value

from session_core.refresh_token import MASTER_KEY_NAME
from tests.service.serve_process import ServiceProcess

DEADLINE_SECONDS = 30


@dataclass
class Secrets:
    """Every secret of a run, as the strings that must not appear: the whole value and its
    telling parts (a token's segments, a key string's halves)."""

    needles: dict[str, str] = field(default_factory=dict)  # needle -> what it is

    def add(self, what: str, value: str | None) -> None:
        assert value, f"the run produced no {what}"
        self.needles[value] = what
        for part in re.split(r"[.|]", value):
            if len(part) >= 16:
                self.needles.setdefault(part, f"part of {what}")


@dataclass
class Run:
    """A scenario's processes and what it produced."""

    core_url: str
    database: str
    key_interval_hours: float
    secrets: Secrets
    processes: list[ServiceProcess]
    details: list[str] = field(default_factory=list)  # error details of refused calls


def marker(what: str) -> str:
    """A value no log line could contain by chance."""
    return f"{what}-{secrets.token_hex(12)}"


SECRET_COLUMNS = (
    ("session_access_token_signing_keys", "value", "dynamic signing key"),
    ("jwt_signing_keys", "key_string", "static signing key"),
    ("session_info", "session_data", "session data"),
    ("session_info", "jwt_user_payload", "access token payload"),
    ("session_info", "refresh_token_hash_2", "refresh token hash"),
)


async def database_rows(database: str, query: str) -> list[tuple[str, ...]]:
    if database.startswith("sqlite:///"):
        with sqlite3.connect(database.removeprefix("sqlite:///"), timeout=10) as db:
            return [tuple(row) for row in db.execute(query).fetchall()]
    connection = await asyncpg.connect(database)
    try:
        return [tuple(row) for row in await connection.fetch(query)]
    finally:
        await connection.close()


async def read_database_secrets(run: Run) -> None:
    for table, column, what in SECRET_COLUMNS:
        for (value,) in await database_rows(run.database, f"SELECT {column} FROM {table}"):
            run.secrets.add(what, value)
    master = await database_rows(
        run.database, f"SELECT value FROM key_value WHERE name = '{MASTER_KEY_NAME}'"
    )
    assert len(master) == 1
    run.secrets.add("refresh-token master key", master[0][0])


async def age_dynamic_keys(run: Run) -> None:
    """Make the newest dynamic key older than the rotation interval, as time would."""
    shift_ms = round(run.key_interval_hours * 3_600_000) + 60_000
    statement = (
        "UPDATE session_access_token_signing_keys"
        f" SET created_at_time = created_at_time - {shift_ms}"
    )
    if run.database.startswith("sqlite:///"):
        path = run.database.removeprefix("sqlite:///")
        with sqlite3.connect(path, timeout=10) as db:
            db.execute(statement)
        return
    connection = await asyncpg.connect(run.database)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


async def public_kids(http: httpx.AsyncClient, core_url: str) -> set[str]:
    """The kids the core publishes (the public JWKS also runs its due rotation)."""
    response = await http.get(f"{core_url}/.well-known/jwks.json")
    response.raise_for_status()
    return {key["kid"] for key in response.json()["keys"]}


async def refused(call: Callable[[], Awaitable[object]], run: Run) -> grpc.StatusCode:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call()
    run.details.append(raised.value.details() or "")
    return raised.value.code()


async def ok_after_key_refetch(client: SessionClient, token: str) -> None:
    """GetSession of a token signed by a key the service has not fetched yet: OK once the
    service refetched the key set (unknown-kid refetches are rate-limited)."""
    async with asyncio.timeout(DEADLINE_SECONDS):
        while True:
            got = await client.get_session(token, anti_csrf_check=False)
            if got.status is SessionStatus.OK:
                return
            assert got.status is SessionStatus.TRY_REFRESH_TOKEN, got
            await asyncio.sleep(0.1)


async def scenario(address: str, run: Run, full_key: str, verify_key: str) -> None:
    add = run.secrets.add
    user = marker("user")
    async with (
        SessionClient.insecure(address, api_key=full_key) as client,
        SessionClient.insecure(address, api_key=verify_key) as verifier,
        SessionClient.insecure(address, api_key="wrong-" + full_key) as stranger,
        httpx.AsyncClient() as http,
    ):
        payload, data = marker("payload"), marker("session-data")
        add("access token payload value", payload)
        add("session data value", data)
        created = await client.create_session(user, {"role": payload}, {"db": data})
        handle, anti_csrf = created.session.session_handle, created.anti_csrf_token
        add("access token", created.access_token.token)
        add("refresh token", created.refresh_token.token)
        add("anti-CSRF token", anti_csrf)
        add("front token", created.session.front_token)
        access = created.access_token.token

        # GetSession: first sight, then from the verified-token cache, then the core.
        for _ in range(2):
            got = await verifier.get_session(access, anti_csrf_check=False)
            assert got.status is SessionStatus.OK
        got = await verifier.get_session(
            access, anti_csrf_token=anti_csrf, anti_csrf_check=True, check_database=True
        )
        assert got.status is SessionStatus.OK

        # Claims, payload and session data.
        claim = marker("claim")
        add("claim value", claim)
        assert (await client.set_claim_value(handle, "st-secret", claim)).status is SessionStatus.OK
        assert (await client.get_claim_value(handle, "st-secret")).value == claim
        validated = await client.validate_claims_for_session_handle(
            handle, [has_value("st-secret", claim)]
        )
        assert validated.status is SessionStatus.OK
        merged = marker("merged")
        add("merged payload value", merged)
        await client.merge_into_access_token_payload(handle, {"merged": merged})
        regenerated_value = marker("regenerated")
        add("regenerated payload value", regenerated_value)
        regenerated = await client.regenerate_access_token(access, {"r": regenerated_value})
        assert regenerated.access_token is not None
        add("regenerated access token", regenerated.access_token.token)
        new_data = marker("new-session-data")
        add("session data value", new_data)
        await client.update_session_data_in_database(handle, {"db": new_data})
        information = await client.get_session_information(handle)
        assert information.info is not None
        assert information.info.session_data_in_database == {"db": new_data}

        # Refresh, first use of the new token (the core promotes it), then theft.
        refreshed = await client.refresh_session(
            created.refresh_token.token, anti_csrf_token=anti_csrf
        )
        assert refreshed.access_token is not None and refreshed.refresh_token is not None
        assert refreshed.session is not None
        add("refreshed access token", refreshed.access_token.token)
        add("refreshed refresh token", refreshed.refresh_token.token)
        add("refreshed anti-CSRF token", refreshed.anti_csrf_token)
        add("refreshed front token", refreshed.session.front_token)
        promoted = await client.get_session(
            refreshed.access_token.token,
            anti_csrf_token=refreshed.anti_csrf_token,
            anti_csrf_check=True,
        )
        assert promoted.status is SessionStatus.OK
        theft = await client.refresh_session(created.refresh_token.token, anti_csrf_token=anti_csrf)
        assert theft.status is SessionStatus.TOKEN_THEFT_DETECTED

        # A JWT signed by the core.
        jwt_claim = marker("jwt-claim")
        add("JWT claim", jwt_claim)
        jwt = await client.create_jwt({"sub": user, "secret": jwt_claim}, validity_seconds=60)
        assert jwt.status is SessionStatus.OK
        add("JWT", jwt.jwt)

        # Signing-key rotation: the newest key passes its interval, the core makes a new one
        # (polled: the core re-reads its keys at most once a second), and the next session
        # is signed with it.
        kids_before = await public_kids(http, run.core_url)
        await age_dynamic_keys(run)
        async with asyncio.timeout(DEADLINE_SECONDS):
            while True:
                if (await public_kids(http, run.core_url)) - kids_before:
                    break
                await asyncio.sleep(0.1)
        rotated = await client.create_session(user, {"role": payload}, {"db": data})
        add("access token after rotation", rotated.access_token.token)
        add("refresh token after rotation", rotated.refresh_token.token)
        add("anti-CSRF token after rotation", rotated.anti_csrf_token)
        await ok_after_key_refetch(verifier, rotated.access_token.token)

        # Refused calls: their error details are checked too.
        assert await refused(lambda: stranger.get_session(access), run) in (
            grpc.StatusCode.UNAUTHENTICATED,
        )
        assert (
            await refused(lambda: verifier.revoke_session(handle), run)
            is grpc.StatusCode.PERMISSION_DENIED
        )
        garbage = await client.get_session("garbage." + access, anti_csrf_check=False)
        assert garbage.status is SessionStatus.UNAUTHORISED
        run.details.append(garbage.message)
        tampered = await client.get_session(access[:-6] + "AAAAAA", anti_csrf_check=False)
        assert tampered.status is SessionStatus.TRY_REFRESH_TOKEN
        run.details.append(tampered.message)

        await read_database_secrets(run)  # before revocation deletes the sessions' rows
        revoked = await client.revoke_session(rotated.session.session_handle)
        assert revoked.status is SessionStatus.OK
        await client.revoke_all_sessions_for_user(user)
        assert (await client.get_all_session_handles_for_user(user)).session_handles == ()
    await read_database_secrets(run)
