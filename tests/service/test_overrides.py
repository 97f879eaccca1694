"""Override hooks change behaviour through configuration only: the module is named in the
environment (``SESSION_SERVICE_OVERRIDE_MODULE``) or the settings, and the real service,
over gRPC, then follows it. The hooks are ``tests/service/override_hooks.py``.
"""

from __future__ import annotations

import base64
import json

import pytest
from session_client import SessionClient, SessionStatus

from session_common.clock import ManualClock
from session_core.app import RunningCore
from session_proto.session.v1 import session_service_pb2 as pb
from session_service.domain.api import CoreClientConfig, DomainConfig, SessionRecipe, Status
from session_service.server import start_service
from session_service.settings import SettingsError, load_settings
from session_service.transport.servicer import SessionServicer
from tests.service import override_hooks
from tests.service.conftest import MakeService

DEFAULT_ISSUER = "http://localhost:3001/auth"
HOOKS = "tests.service.override_hooks"


def token_payload(token: str) -> dict[str, object]:
    part = token.split(".")[1]
    decoded: dict[str, object] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


async def test_hooks_named_in_the_environment_add_an_issuer_and_ban_a_user(
    core: RunningCore, clock: ManualClock
) -> None:
    settings = load_settings(
        env={
            "SESSION_SERVICE_HOST": "127.0.0.1",
            "SESSION_SERVICE_PORT": "0",
            "SESSION_SERVICE_CORE_URL": core.url,
            "SESSION_SERVICE_OVERRIDE_MODULE": HOOKS,
        }
    )
    service = await start_service(settings, clock=clock)
    try:
        async with SessionClient.insecure(service.address) as client:
            alice = await client.create_session("alice", {"role": "admin"})
            mallory = await client.create_session("mallory")
            alice_verified = await client.get_session(alice.session.access_token)
            mallory_verified = await client.get_session(mallory.session.access_token)
            mallory_refreshed = await client.refresh_session(mallory.refresh_token.token)
    finally:
        await service.stop(grace=1.0)

    assert token_payload(alice.session.access_token)["iss"] == override_hooks.ISSUER
    assert alice.session.access_token_payload["iss"] == override_hooks.ISSUER
    assert alice.session.access_token_payload["role"] == "admin"
    assert alice_verified.status is SessionStatus.OK
    assert mallory_verified.status is SessionStatus.UNAUTHORISED
    assert mallory_verified.message == override_hooks.BANNED_MESSAGE
    assert mallory_verified.session is None
    # Only get_session was overridden for bans: refresh still works (as the hook says).
    assert mallory_refreshed.status is SessionStatus.OK
    assert service.servicer.internal_errors == 0


async def test_without_hooks_the_configured_issuer_and_no_bans(client: SessionClient) -> None:
    mallory = await client.create_session("mallory")
    verified = await client.get_session(mallory.session.access_token)
    assert verified.status is SessionStatus.OK
    assert token_payload(mallory.session.access_token)["iss"] == DEFAULT_ISSUER


async def test_a_ban_holds_for_a_token_seen_before_on_the_token_only_path(
    core: RunningCore, clock: ManualClock
) -> None:
    """The token-only GetSession path answers a repeat of a verified token from the cache;
    an override of get_session must hold there too. The recipe takes its override when it
    is built, so a servicer built on it can only see the overridden functions."""
    recipe = SessionRecipe(
        DomainConfig(
            api_domain="http://localhost:3001", core=CoreClientConfig(connection_uri=core.url)
        ),
        clock=clock,
        override=override_hooks.override,
    )
    await recipe.start()
    try:
        servicer = SessionServicer(recipe)
        created = await recipe.create_new_session("mallory")
        assert created.session is not None
        token = created.session.access_token
        wire = pb.GetSessionRequest(access_token=token).SerializeToString()
        for _ in range(3):  # kept decoded from the second use on
            assert (await recipe.get_session(token)).status is Status.UNAUTHORISED
            answer = servicer.fast_path.answer(wire)
            assert answer is None or answer.status != pb.SESSION_STATUS_OK
    finally:
        await recipe.close()


async def test_a_named_function_of_the_module_is_used(make_service: MakeService) -> None:
    service = await make_service(override_module=f"{HOOKS}:with_issuer")
    async with SessionClient.insecure(service.address) as client:
        mallory = await client.create_session("mallory")
        verified = await client.get_session(mallory.session.access_token)
    assert token_payload(mallory.session.access_token)["iss"] == override_hooks.ISSUER
    assert verified.status is SessionStatus.OK  # this function bans nobody


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("tests.service.no_such_hooks", "cannot import"),
        (f"{HOOKS}:no_such_function", "no function 'no_such_function'"),
        (f"{HOOKS}:not_recipe_functions", "not RecipeFunctions"),
    ],
)
async def test_an_unusable_override_module_stops_startup(
    make_service: MakeService, spec: str, problem: str
) -> None:
    with pytest.raises(SettingsError, match="--override-module") as refused:
        await make_service(override_module=spec)
    assert problem in str(refused.value)


async def test_theft_revokes_through_the_revoke_session_hook(make_service: MakeService) -> None:
    """Like the SDK's default theft handler, which calls the (overridable) revoke_session."""
    service = await make_service(override_module=f"{HOOKS}:recording_revokes")
    override_hooks.REVOKED.clear()
    async with SessionClient.insecure(service.address) as client:
        created = await client.create_session("robbed")
        first = await client.refresh_session(created.refresh_token.token)
        assert first.refresh_token is not None
        assert (await client.refresh_session(first.refresh_token.token)).status is SessionStatus.OK
        theft = await client.refresh_session(
            created.refresh_token.token, user_context={"request": "r-7"}
        )
    assert theft.status is SessionStatus.TOKEN_THEFT_DETECTED
    # The refresh's user_context reaches the hook, as every SDK function passes it on.
    revoked = list(override_hooks.REVOKED)
    assert revoked == [(created.session.session_handle, {"request": "r-7"})]
