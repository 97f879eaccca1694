"""No secret reaches a log or an error detail, at any level, from our loggers or a library's.

The real commands as an operator runs them: ``session-service serve`` with its embedded core
(SQLite), and ``session-service`` in front of a ``session-core serve`` on PostgreSQL, every
process at ``--log-level debug``, in JSON and in text. A scenario drives every path that
handles a secret (create, get uncached and cached, check_database, anti-CSRF, claims, payload
and session data updates, refresh, theft, CreateJWT, a signing-key rotation, revocation, and
calls refused for bad credentials). Then every log line is searched for every secret the run
produced, read back from the responses and from the database (private signing keys, the
refresh-token master key, access/refresh/anti-CSRF/front tokens, JWTs, API keys, the core's
API key, session data and payload values), and for any base64 run of 200 characters or more
(a key or token in an encoding nobody thought of).
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import signal
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import grpc
import httpx
import pytest
from session_client import SessionClient, SessionStatus, has_value

from session_common.clock import ManualClock
from session_core.app import start_core
from session_core.config import CoreConfig
from session_core.refresh_token import MASTER_KEY_NAME
from tests.faults import Fault, FaultProxy
from tests.reliability import STATS
from tests.service.conftest import MakeService
from tests.service.harness import free_port
from tests.service.serve_process import SESSION_CORE, ServiceProcess, wait_serving

BASE64_RUN = re.compile(r"[A-Za-z0-9+/=_-]{200,}")
TEXT_LINE = re.compile(r"^\S+ \S+ (?P<level>[A-Z]+) (?P<logger>[\w.]+)[ :\[]")
CORE_URL_LINE = re.compile(r"embedded session core listening on (http://[0-9.:]+)")
# Dynamic-key rotation: the embedded core's default interval; the PostgreSQL core runs with
# the shortest one allowed.
EMBEDDED_KEY_INTERVAL_HOURS = 168
SHORT_KEY_INTERVAL_HOURS = 1
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


# -- the database ------------------------------------------------------------------------------

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


# -- the scenario ------------------------------------------------------------------------------


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


# -- the runs ----------------------------------------------------------------------------------


@asynccontextmanager
async def stopped_at_exit(process: ServiceProcess) -> AsyncIterator[ServiceProcess]:
    """The process; SIGTERM and a clean exit at the end (its last lines are scanned too)."""
    try:
        yield process
        process.process.send_signal(signal.SIGTERM)
        assert await process.exit_code() == 0, process.log
    finally:
        await process.close()


async def wait_answering(url: str, process: ServiceProcess) -> None:
    async with httpx.AsyncClient() as http, asyncio.timeout(60):
        while True:
            assert process.process.returncode is None, process.log
            try:
                if (await http.get(f"{url}/hello")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)


def library_lines_below_warning(run: Run, log_format: str) -> list[str]:
    """Lines of loggers other than ours below WARNING (the mechanism the scan relies on)."""
    found = []
    for process in run.processes:
        for line in process.lines:
            if line.startswith("session-core listening on "):
                continue
            if log_format == "json":
                entry = json.loads(line)
                level, logger = entry["level"].upper(), entry["logger"]
            else:
                match = TEXT_LINE.match(line)
                if match is None:
                    continue  # a traceback's continuation line (there should be none)
                level, logger = match["level"], match["logger"]
            if level in ("DEBUG", "INFO") and not logger.startswith("session_"):
                found.append(line)
    return found


def scan(run: Run, log_format: str) -> None:
    lines = [line for process in run.processes for line in process.lines]
    # session-core also prints its URL as a plain line, whatever the format and level.
    logged = [line for line in lines if not line.startswith("session-core listening on ")]
    assert all(line.startswith("{") == (log_format == "json") for line in logged)
    # The processes really logged at DEBUG: one line per core request.
    assert sum(" -> 200 (" in line for line in lines) > 20
    searched = [*lines, *run.details]
    hits = [
        f"{what} in line {number}"
        for number, line in enumerate(searched)
        for needle, what in run.secrets.needles.items()
        if needle in line
    ]
    hits += [f"base64 in line {n}" for n, line in enumerate(searched) if BASE64_RUN.search(line)]
    STATS["log lines scanned for secrets"] += len(lines)
    STATS["secrets searched in logs"] += len(run.secrets.needles)
    STATS["secrets found in logs"] += len(hits)
    print(
        f"log lines scanned: {len(lines)}, error details: {len(run.details)}, "
        f"secrets searched: {len(run.secrets.needles)}, hits: {len(hits)}"
    )
    assert hits == []
    assert library_lines_below_warning(run, log_format) == []


def api_keys_file(directory: Path) -> tuple[Path, str, str]:
    full_key, verify_key = secrets.token_hex(20), secrets.token_hex(20)
    path = directory / "api-keys"
    path.write_text(f"{full_key} full\n{verify_key} verify\n")
    return path, full_key, verify_key


def service_flags(log_format: str, keys: Path) -> tuple[str, ...]:
    return (
        "--log-level",
        "debug",
        "--log-format",
        log_format,
        "--api-keys-file",
        str(keys),
        "--anti-csrf",
        "VIA_TOKEN",
    )


@pytest.mark.parametrize("log_format", ["json", "text"])
async def test_embedded_core_at_debug_logs_no_secret(tmp_path: Path, log_format: str) -> None:
    keys, full_key, verify_key = api_keys_file(tmp_path)
    port = free_port()
    started = await ServiceProcess.start(port, tmp_path / "data", *service_flags(log_format, keys))
    async with stopped_at_exit(started) as service:
        await wait_serving(f"127.0.0.1:{port}")
        run = Run(
            core_url=service.find(CORE_URL_LINE)[1],
            database=f"sqlite:///{tmp_path / 'data' / 'core.db'}",
            key_interval_hours=EMBEDDED_KEY_INTERVAL_HOURS,
            secrets=Secrets(),
            processes=[service],
        )
        run.secrets.add("caller API key", full_key)
        run.secrets.add("verify API key", verify_key)
        await scenario(f"127.0.0.1:{port}", run, full_key, verify_key)
    scan(run, log_format)


@pytest.mark.parametrize("log_format", ["json", "text"])
async def test_core_on_postgresql_at_debug_logs_no_secret(
    tmp_path: Path, postgres_url: str, log_format: str
) -> None:
    keys, full_key, verify_key = api_keys_file(tmp_path)
    core_key = secrets.token_hex(24)
    core_port, port = free_port(), free_port()
    core_url = f"http://127.0.0.1:{core_port}"
    started_core = await ServiceProcess.run(
        SESSION_CORE,
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(core_port),
        "--database",
        postgres_url,
        "--log-level",
        "debug",
        "--log-format",
        log_format,
        "--access-token-dynamic-signing-key-update-interval",
        str(SHORT_KEY_INTERVAL_HOURS),
        env={"SESSION_CORE_API_KEYS": core_key},
    )
    async with stopped_at_exit(started_core) as core:
        await wait_answering(core_url, core)
        started = await ServiceProcess.start(
            port,
            tmp_path / "data",
            *service_flags(log_format, keys),
            "--core-url",
            core_url,
            env={"SESSION_SERVICE_CORE_API_KEY": core_key},
        )
        async with stopped_at_exit(started) as service:
            await wait_serving(f"127.0.0.1:{port}")
            run = Run(
                core_url=core_url,
                database=postgres_url,
                key_interval_hours=SHORT_KEY_INTERVAL_HOURS,
                secrets=Secrets(),
                processes=[core, service],
            )
            run.secrets.add("caller API key", full_key)
            run.secrets.add("verify API key", verify_key)
            run.secrets.add("core API key", core_key)
            await scenario(f"127.0.0.1:{port}", run, full_key, verify_key)
    scan(run, log_format)


async def test_no_secret_in_error_details_when_the_core_answers_garbage(
    make_service: MakeService,
    sqlite_url: str,
    clock: ManualClock,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """In-process, our own loggers at DEBUG: a core answering garbage, and requests built
    from tokens, give error details and log lines without any secret."""
    for own in ("session_service", "session_core"):
        caplog.set_level("DEBUG", logger=own)
    core_key = secrets.token_hex(20)
    core = await start_core(
        CoreConfig(host="127.0.0.1", port=0, database=sqlite_url, api_keys=(core_key,)),
        clock=clock,
    )
    proxy = FaultProxy(core.url)
    await proxy.start()
    keys, full_key, _ = api_keys_file(tmp_path)
    found = Secrets()
    found.add("core API key", core_key)
    found.add("caller API key", full_key)
    details: list[str] = []
    try:
        service = await make_service(
            core_url=proxy.url, core_api_key=core_key, api_keys_file=keys, log_level="debug"
        )
        async with SessionClient.insecure(service.address, api_key=full_key) as client:
            created = await client.create_session("alice", {"role": "admin"}, {"db": 1})
            found.add("access token", created.session.access_token)
            found.add("refresh token", created.refresh_token.token)
            failing: list[Callable[[], Awaitable[object]]] = [
                lambda: client.merge_into_access_token_payload(
                    created.session.session_handle, {"sub": created.refresh_token.token}
                ),
                lambda: client.regenerate_access_token(
                    created.session.access_token, {"exp": created.session.access_token}
                ),
                lambda: client.create_session("during-garbage"),
            ]
            for index, call in enumerate(failing):
                if index == len(failing) - 1:
                    proxy.set_fault(Fault.GARBAGE)
                with pytest.raises(grpc.aio.AioRpcError) as raised:
                    await call()
                details.append(raised.value.details() or "")
            proxy.set_fault(Fault.NONE)
    finally:
        await proxy.stop()
        await core.stop()
    assert any(r.levelname == "DEBUG" for r in caplog.records)  # the scenario really logged
    text = caplog.text + "\n".join(details)
    assert [what for needle, what in found.needles.items() if needle in text] == []
