"""No token, refresh token, signing key, API key or core API key appears in any log record
(at DEBUG, every logger: service, core, grpc, httpx) or error detail of a full scenario."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc
import pytest
from session_client import SessionClient, SessionStatus

from session_core.app import start_core
from session_core.clock import ManualClock
from session_core.config import CoreConfig
from session_core.storage.sqlite import SQLiteStorage
from tests.faults import Fault, FaultProxy
from tests.service.conftest import MakeService

API_KEY = "caller-api-key-0123456789-abcdef"
VERIFY_KEY = "verify-api-key-0123456789-abcdef"
CORE_KEY = "core-api-key-0123456789-abcdefgh"


async def test_no_secret_in_logs_or_errors(
    make_service: MakeService,
    sqlite_url: str,
    clock: ManualClock,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    core = await start_core(
        CoreConfig(host="127.0.0.1", port=0, database=sqlite_url, api_keys=(CORE_KEY,)),
        clock=clock,
    )
    proxy = FaultProxy(core.url)
    await proxy.start()
    keys = tmp_path / "keys"
    keys.write_text(f"{API_KEY} full\n{VERIFY_KEY} verify\n")
    secrets: set[str] = {API_KEY, VERIFY_KEY, CORE_KEY}
    details: list[str] = []
    try:
        service = await make_service(
            core_url=proxy.url, core_api_key=CORE_KEY, api_keys_file=keys, log_level="debug"
        )
        async with (
            SessionClient.insecure(service.address, api_key=API_KEY) as client,
            SessionClient.insecure(service.address, api_key=VERIFY_KEY) as verifier,
            SessionClient.insecure(service.address, api_key="wrong-" + API_KEY) as stranger,
        ):
            created = await client.create_session("alice", {"role": "admin"}, {"db": 1})
            secrets |= {created.session.access_token, created.refresh_token.token}
            got = await verifier.get_session(created.session.access_token, check_database=True)
            assert got.status is SessionStatus.OK
            refreshed = await client.refresh_session(created.refresh_token.token)
            assert refreshed.refresh_token is not None and refreshed.access_token is not None
            secrets |= {refreshed.refresh_token.token, refreshed.access_token.token}
            promoted = await client.get_session(refreshed.access_token.token)
            assert promoted.status is SessionStatus.OK
            theft = await client.refresh_session(created.refresh_token.token)
            assert theft.status is SessionStatus.TOKEN_THEFT_DETECTED
            tampered = created.session.access_token[:-6] + "AAAAAA"
            assert (await client.get_session(tampered)).status is SessionStatus.TRY_REFRESH_TOKEN
            assert (await client.get_session("garbage." + created.session.access_token)).status
            failing: list[Callable[[], Awaitable[object]]] = [
                lambda: stranger.get_session(created.session.access_token),
                lambda: verifier.revoke_session(created.session.session_handle),
                lambda: client.merge_into_access_token_payload(
                    created.session.session_handle, {"sub": created.refresh_token.token}
                ),
                lambda: client.regenerate_access_token(
                    created.session.access_token, {"exp": created.session.access_token}
                ),
            ]
            proxy.set_fault(Fault.GARBAGE)
            failing.append(lambda: client.create_session("during-garbage"))
            for call in failing:
                with pytest.raises(grpc.aio.AioRpcError) as raised:
                    await call()
                details.append(raised.value.details() or "")
            proxy.set_fault(Fault.NONE)
            revoked = await client.revoke_session(created.session.session_handle)
            assert revoked.status is SessionStatus.OK
        storage = core.storage
        assert isinstance(storage, SQLiteStorage)
        secrets |= {row.value for row in await storage.get_dynamic_keys()}
        secrets |= {row.key_string for row in await storage.get_static_keys("RS256")}
    finally:
        await proxy.stop()
        await core.stop()

    text = caplog.text + "\n".join(details)
    assert len(caplog.records) > 10  # the scenario really logged
    for secret in secrets:
        # A token's payload segment is the telling part; a key string's base64 body too.
        for fragment in {secret, *(p for p in secret.split(".") if len(p) > 16)}:
            assert fragment not in text
