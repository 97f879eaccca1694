"""``SyncSessionClient`` against the real service and core. The service runs on the test's
event loop, so the blocking client runs in a worker thread (``asyncio.to_thread``)."""

from __future__ import annotations

import asyncio
import inspect

import grpc
import pytest
from session_client import (
    SessionClient,
    SessionStatus,
    SyncSessionClient,
    _calls,
    has_value,
    includes,
)

from session_common.clock import ManualClock
from session_service.server import RunningService
from tests.service import fetched_claims
from tests.service.conftest import MakeService
from tests.service.harness import free_port

RPC_NAMES = sorted(
    name
    for name, value in vars(_calls).items()
    if inspect.isfunction(value)
    and value.__module__ == _calls.__name__
    and not name.startswith("_")
    and name != "method_signature"
)


def test_both_clients_offer_every_rpc_with_the_same_signature() -> None:
    assert len(RPC_NAMES) == 20
    for name in RPC_NAMES:
        async_method = getattr(SessionClient, name)
        sync_method = getattr(SyncSessionClient, name)
        assert inspect.iscoroutinefunction(async_method), name
        assert not inspect.iscoroutinefunction(sync_method), name
        assert inspect.signature(async_method) == inspect.signature(sync_method), name
        assert async_method.__doc__ == sync_method.__doc__ == getattr(_calls, name).__doc__
    signature = inspect.signature(SyncSessionClient.refresh_session)
    assert list(signature.parameters) == [
        "self",
        "refresh_token",
        "anti_csrf_token",
        "disable_anti_csrf",
        "user_context",
    ]
    assert signature.return_annotation == "RefreshSessionResult"


def _session_lifecycle(address: str) -> None:
    with SyncSessionClient.insecure(address) as client:
        client.wait_until_connected(timeout=10)
        created = client.create_session("sync-user", {"role": "admin"}, {"note": "db"})
        handle = created.session.session_handle
        assert created.session.user_id == "sync-user"
        assert created.session.access_token_payload["role"] == "admin"

        verified = client.get_session(created.session.access_token)
        assert verified.status is SessionStatus.OK
        assert verified.session is not None
        assert verified.session.session_handle == handle
        assert verified.new_access_token is None

        refreshed = client.refresh_session(created.refresh_token.token)
        assert refreshed.status is SessionStatus.OK
        assert refreshed.session is not None and refreshed.refresh_token is not None
        assert refreshed.refresh_token.token != created.refresh_token.token

        # The first use of the new access token promotes the new refresh token (core call).
        promoted = client.get_session(refreshed.session.access_token)
        assert promoted.status is SessionStatus.OK
        assert promoted.new_access_token is not None

        info = client.get_session_information(handle)
        assert info.status is SessionStatus.OK and info.info is not None
        assert info.info.session_data_in_database == {"note": "db"}

        theft = client.refresh_session(created.refresh_token.token)
        assert theft.status is SessionStatus.TOKEN_THEFT_DETECTED
        assert theft.token_theft is not None
        assert theft.token_theft.session_handle == handle
        assert theft.token_theft.user_id == "sync-user"
        # The service revoked the session, as the SDK's default theft handler does.
        assert client.revoke_session(handle).status is SessionStatus.SESSION_DOES_NOT_EXIST
        assert client.get_session_information(handle).info is None


def _claims_and_keys(address: str) -> None:
    with SyncSessionClient.insecure(address) as client:
        created = client.create_session("claims-user")
        handle = created.session.session_handle
        assert client.set_claim_value(handle, "st-role", ["user"]).status is SessionStatus.OK
        assert client.get_claim_value(handle, "st-role").value == ["user"]
        checked = client.validate_claims_for_session_handle(
            handle, [includes("st-role", "admin")], override_global_claim_validators=True
        )
        assert checked.status is SessionStatus.INVALID_CLAIMS
        assert [e.id for e in checked.invalid_claims] == ["st-role"]
        assert checked.invalid_claims[0].reason == {
            "message": "wrong value",
            "expectedToInclude": "admin",  # as passed, as in the SDK
            "actualValue": ["user"],
        }
        assert client.remove_claim(handle, "st-role").status is SessionStatus.OK
        assert client.get_claim_value(handle, "st-role").value is None

        # A validator on the request: the session is valid, the claim is not there.
        result = client.get_session(
            created.session.access_token, claim_validators=[has_value("st-ev", True)]
        )
        assert result.status is SessionStatus.INVALID_CLAIMS
        assert result.session is not None

        jwks = client.get_jwks()
        assert jwks.status is SessionStatus.OK
        assert jwks.keys and all(k.kty == "RSA" and k.alg == "RS256" for k in jwks.keys)
        assert client.create_jwt({"a": 1}, validity_seconds=60).status is SessionStatus.OK
        discovery = client.get_open_id_discovery_configuration()
        assert discovery.jwks_uri == discovery.issuer + "/jwt/jwks.json"

        with pytest.raises(grpc.RpcError) as failure:  # a protected claim
            client.merge_into_access_token_payload(handle, {"exp": 1})
        assert failure.value.code() is grpc.StatusCode.INVALID_ARGUMENT

        listed = client.get_all_session_handles_for_user("claims-user")
        assert (listed.status, listed.session_handles) == (SessionStatus.OK, (handle,))
        revoked = client.revoke_all_sessions_for_user("claims-user")
        assert (revoked.status, revoked.session_handles) == (SessionStatus.OK, (handle,))
        nothing = client.revoke_multiple_sessions([handle])
        assert (nothing.status, nothing.session_handles) == (SessionStatus.OK, ())


async def test_session_lifecycle_with_theft_detection(service: RunningService) -> None:
    await asyncio.to_thread(_session_lifecycle, service.address)


async def test_claims_keys_and_errors(service: RunningService) -> None:
    await asyncio.to_thread(_claims_and_keys, service.address)


async def test_expired_access_token_means_try_refresh(
    service: RunningService, clock: ManualClock
) -> None:
    def create(client: SyncSessionClient) -> str:
        return client.create_session("late-user").session.access_token

    with SyncSessionClient.insecure(service.address) as client:
        token = await asyncio.to_thread(create, client)
        clock.advance(3_601_000)
        result = await asyncio.to_thread(client.get_session, token)
    assert result.status is SessionStatus.TRY_REFRESH_TOKEN


def test_wait_until_connected_gives_up_with_timeout_error() -> None:
    with (
        SyncSessionClient.insecure(f"127.0.0.1:{free_port()}") as client,
        pytest.raises(TimeoutError),
    ):
        client.wait_until_connected(timeout=0.2)


def _fetched_claims(address: str, now_ms: int) -> None:
    with SyncSessionClient.insecure(address) as client:
        created = client.create_session("fetch-user")
        handle = created.session.session_handle
        context = {"plan": "pro"}
        assert client.fetch_and_set_claim(handle, "plan", user_context=context).status is (
            SessionStatus.OK
        )
        info = client.get_session_information(handle)
        assert info.info is not None
        assert info.info.custom_claims_in_access_token_payload["plan"] == {"v": "pro", "t": now_ms}

        verified = client.get_session(
            created.session.access_token, claim_validators=[has_value("verified", True)]
        )
        assert verified.status is SessionStatus.OK
        assert verified.new_access_token is not None
        assert verified.session is not None
        assert verified.session.access_token_payload["verified"] == {"v": True, "t": now_ms}

        checked = client.validate_claims_in_jwt_payload(
            "fetch-user", verified.session.access_token_payload, [includes("roles", "admin")]
        )
        assert checked.status is SessionStatus.INVALID_CLAIMS  # never fetched: no roles there
        assert [e.id for e in checked.invalid_claims] == ["roles"]


async def test_fetched_claims_and_user_context(
    make_service: MakeService, clock: ManualClock
) -> None:
    fetched_claims.reset()
    service = await make_service(claims_module="tests.service.fetched_claims")
    await asyncio.to_thread(_fetched_claims, service.address, clock.now_ms())
    assert fetched_claims.fetch_calls == {"plan": 1, "verified": 1}
    assert fetched_claims.seen_contexts[0] == ("plan", "fetch-user", {"plan": "pro"})
    fetched_claims.reset()
