"""Caller authentication on the gRPC port (API keys with scopes, TLS, mutual TLS) and the
secured hop to the core (TLS, mutual TLS, api-key), all over real sockets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from session_client import SessionClient, SessionStatus

from session_common.clock import ManualClock
from session_core.app import RunningCore, start_core
from session_core.config import CoreConfig
from session_proto.session.v1 import session_service_pb2 as pb
from session_service.server import start_service
from session_service.settings import SettingsError
from session_service.transport.auth import VERIFY_METHODS, ApiKeysError, parse_api_keys
from tests.certs import Pki, make_pki
from tests.faults import FaultProxy
from tests.service.conftest import MakeService, service_settings
from tests.service.harness import SERVING

FULL_KEY = "full-key-0123456789-abcdefghij"
VERIFY_KEY = "verify-key-0123456789-abcdefgh"
NEXT_KEY = "next-key-0123456789-abcdefghijk"
CORE_KEY = "core-api-key-0123456789-abcdef"
SERVICE = pb.DESCRIPTOR.services_by_name["SessionService"]


def _key_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "api-keys"
    path.write_text(text)
    return path


def _raw(channel: grpc.aio.Channel, method: str) -> Any:
    return channel.unary_unary(
        f"/{SERVICE.full_name}/{method}",
        request_serializer=lambda b: b,
        response_deserializer=lambda b: b,
    )


async def _code(channel: grpc.aio.Channel, method: str, key: str | None) -> grpc.StatusCode:
    metadata = (("x-api-key", key),) if key is not None else None
    try:
        await _raw(channel, method)(b"", timeout=10, metadata=metadata)
    except grpc.aio.AioRpcError as exc:
        assert FULL_KEY not in (exc.details() or "") and VERIFY_KEY not in (exc.details() or "")
        return exc.code()
    return grpc.StatusCode.OK


@pytest.fixture
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


async def test_scopes_decide_what_a_key_may_call(
    make_service: MakeService, core: RunningCore, tmp_path: Path
) -> None:
    keys = _key_file(tmp_path, f"# rotation: 2026-11\n{FULL_KEY} full\n\n{VERIFY_KEY} verify\n")
    service = await make_service(api_keys_file=keys)
    assert service.auth is not None
    denied = {grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED}
    async with grpc.aio.insecure_channel(service.address) as channel:
        for method in SERVICE.methods:
            for bad in (None, "", "wrong-key-0123456789-abcdefgh", FULL_KEY[:-1], "x" * 5000):
                assert await _code(channel, method.name, bad) is grpc.StatusCode.UNAUTHENTICATED
            verify = await _code(channel, method.name, VERIFY_KEY)
            full = await _code(channel, method.name, FULL_KEY)
            assert full not in denied, method.name
            if method.name in VERIFY_METHODS:
                assert verify not in denied, method.name
            else:
                assert verify is grpc.StatusCode.PERMISSION_DENIED, method.name
        # Probes need no key; reflection needs one (any scope).
        health = health_pb2_grpc.HealthStub(channel)
        checked = await health.Check(health_pb2.HealthCheckRequest(service=""))
        assert checked.status in (SERVING, health_pb2.HealthCheckResponse.NOT_SERVING)
        reflect = reflection_pb2_grpc.ServerReflectionStub(channel)
        listing = reflection_pb2.ServerReflectionRequest(list_services="")
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            _ = [r async for r in reflect.ServerReflectionInfo(iter([listing]))]
        assert raised.value.code() is grpc.StatusCode.UNAUTHENTICATED
        answers = [
            r
            async for r in reflect.ServerReflectionInfo(
                iter([listing]), metadata=(("x-api-key", VERIFY_KEY),)
            )
        ]
        assert answers[0].list_services_response.service

    # A denied call never reaches the core; an allowed one does.
    async with (
        SessionClient.insecure(service.address, api_key=VERIFY_KEY) as verifier,
        SessionClient.insecure(service.address, api_key=FULL_KEY) as admin,
    ):
        creates = core.requests["/recipe/session"]
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await verifier.create_session("u")
        assert raised.value.code() is grpc.StatusCode.PERMISSION_DENIED
        assert core.requests["/recipe/session"] == creates
        created = await admin.create_session("u")
        assert core.requests["/recipe/session"] == creates + 1
        assert (await verifier.get_session(created.session.access_token)).status is (
            SessionStatus.OK
        )
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await verifier.revoke_session(created.session.session_handle)
        assert raised.value.code() is grpc.StatusCode.PERMISSION_DENIED
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await verifier.refresh_session(created.refresh_token.token)
        assert raised.value.code() is grpc.StatusCode.PERMISSION_DENIED
    assert service.auth.unauthenticated > 0 and service.auth.permission_denied > 0


async def test_keys_rotate_without_restart(make_service: MakeService, tmp_path: Path) -> None:
    keys = _key_file(tmp_path, f"{FULL_KEY} full\n")
    service = await make_service(api_keys_file=keys)
    assert service.auth is not None
    async with grpc.aio.insecure_channel(service.address) as channel:
        assert await _code(channel, "GetJWKS", FULL_KEY) is grpc.StatusCode.OK
        assert await _code(channel, "GetJWKS", NEXT_KEY) is grpc.StatusCode.UNAUTHENTICATED

        # Overlap: both keys valid; the file watcher picks the change up by itself.
        keys.write_text(f"{FULL_KEY} full\n{NEXT_KEY} full\n")
        await service.auth.store.wait_for_generation(1)
        for key in (FULL_KEY, NEXT_KEY):
            assert await _code(channel, "GetJWKS", key) is grpc.StatusCode.OK
        # Retire the old key (an explicit reload, as SIGHUP does).
        keys.write_text(f"{NEXT_KEY} full\n")
        assert await service.reload_api_keys()
        assert await _code(channel, "GetJWKS", FULL_KEY) is grpc.StatusCode.UNAUTHENTICATED
        assert await _code(channel, "GetJWKS", NEXT_KEY) is grpc.StatusCode.OK
        # A broken or emptied file never locks callers out: the last good keys stay.
        for broken in (f"{NEXT_KEY}\n", "", f"{NEXT_KEY} admin\n"):
            keys.write_text(broken)
            assert not await service.reload_api_keys()
            assert await _code(channel, "GetJWKS", NEXT_KEY) is grpc.StatusCode.OK
        keys.unlink()
        assert not await service.reload_api_keys()
        assert await _code(channel, "GetJWKS", NEXT_KEY) is grpc.StatusCode.OK
    assert service.auth.store.generation == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no key"),
        ("# only a comment\n", "no key"),
        ("short full\n", "line 1: a key needs at least 20"),
        (f"{FULL_KEY}\n", "line 1: expected '<key> <scope>'"),
        (f"# c\n{FULL_KEY} admin\n", "line 2: scope must be verify or full"),
        (f"{FULL_KEY} full\n{FULL_KEY} verify\n", "line 2: the same key is listed twice"),
        (f"{FULL_KEY}é full\n", "line 1: a key needs"),
    ],
)
def test_key_file_errors_name_the_line_never_the_key(text: str, message: str) -> None:
    with pytest.raises(ApiKeysError) as raised:
        parse_api_keys(text)
    assert message in str(raised.value)
    assert FULL_KEY not in str(raised.value)


async def test_invalid_key_file_stops_startup(core: RunningCore, tmp_path: Path) -> None:
    for path in (_key_file(tmp_path, "nonsense\n"), tmp_path / "missing"):
        with pytest.raises(SettingsError, match="--api-keys-file"):
            await start_service(service_settings(core.url, api_keys_file=path))


async def test_tls_and_mutual_tls(
    make_service: MakeService, pki: Pki, tmp_path_factory: pytest.TempPathFactory
) -> None:
    tls = await make_service(tls_cert_file=pki.server.cert, tls_key_file=pki.server.key)
    async with SessionClient.secure(tls.address, root_certificates=pki.ca_bytes()) as client:
        created = await client.create_session("over-tls")
        assert (await client.get_session(created.session.access_token)).status is (SessionStatus.OK)
    async with SessionClient.insecure(tls.address, timeout=2) as plaintext:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await plaintext.get_jwks()
        assert raised.value.code() is grpc.StatusCode.UNAVAILABLE

    mtls = await make_service(
        tls_cert_file=pki.server.cert,
        tls_key_file=pki.server.key,
        tls_client_ca_file=pki.ca,
    )
    async with SessionClient.secure(
        mtls.address,
        root_certificates=pki.ca_bytes(),
        private_key=pki.client.key_bytes(),
        certificate_chain=pki.client.cert_bytes(),
    ) as client:
        assert (await client.get_jwks()).keys
    stranger = make_pki(tmp_path_factory.mktemp("stranger"), "stranger")
    for key, chain in ((None, None), (stranger.client.key_bytes(), stranger.client.cert_bytes())):
        async with SessionClient.secure(
            mtls.address,
            root_certificates=pki.ca_bytes(),
            private_key=key,
            certificate_chain=chain,
            timeout=2,
        ) as client:
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await client.get_jwks()
            assert raised.value.code() is grpc.StatusCode.UNAVAILABLE


def test_tls_settings_go_together(pki: Pki) -> None:
    with pytest.raises(SettingsError, match="go together"):
        service_settings("http://127.0.0.1:1", tls_cert_file=pki.server.cert)
    with pytest.raises(SettingsError, match="needs --tls-cert-file"):
        service_settings("http://127.0.0.1:1", tls_client_ca_file=pki.ca)
    with pytest.raises(SettingsError, match="go together"):
        service_settings("http://127.0.0.1:1", core_client_key_file=pki.client.key)


async def test_tls_mutual_tls_and_api_key_towards_the_core(
    make_service: MakeService, pki: Pki, sqlite_url: str, clock: ManualClock
) -> None:
    core = await start_core(
        CoreConfig(host="127.0.0.1", port=0, database=sqlite_url, api_keys=(CORE_KEY,)),
        clock=clock,
    )
    # TLS terminates at the proxy (the core speaks HTTP); the proxy demands a client cert.
    proxy = FaultProxy(core.url, server_ssl=pki.server_ssl(require_client_cert=True))
    await proxy.start()
    try:
        secured = await make_service(
            core_url=proxy.url,
            core_api_key=CORE_KEY,
            core_ca_file=pki.ca,
            core_client_cert_file=pki.client.cert,
            core_client_key_file=pki.client.key,
        )
        async with SessionClient.insecure(secured.address) as client:
            created = await client.create_session("via-tls")
            got = await client.get_session(created.session.access_token, check_database=True)
            assert got.status is SessionStatus.OK
        assert proxy.forwarded["/recipe/session"] == 1

        # Each missing piece makes the core unusable, and says so without secrets.
        for overrides in (
            {"core_ca_file": None},  # the proxy's CA is not a system CA
            {"core_client_cert_file": None, "core_client_key_file": None},
            {"core_api_key": "wrong-core-api-key-0123456789"},
        ):
            settings: dict[str, Any] = {
                "core_url": proxy.url,
                "core_api_key": CORE_KEY,
                "core_ca_file": pki.ca,
                "core_client_cert_file": pki.client.cert,
                "core_client_key_file": pki.client.key,
                **overrides,
            }
            broken = await make_service(**settings)
            async with SessionClient.insecure(broken.address) as client:
                with pytest.raises(grpc.aio.AioRpcError) as raised:
                    await client.create_session("refused")
            assert raised.value.code() is grpc.StatusCode.UNAVAILABLE, overrides
            assert CORE_KEY not in (raised.value.details() or "")
            assert "wrong-core-api-key" not in (raised.value.details() or "")
        with pytest.raises(SettingsError, match=r"^--core-ca-file: cannot be loaded"):
            await make_service(core_url=proxy.url, core_ca_file=pki.server.key.parent / "nope")
    finally:
        await proxy.stop()
        await core.stop()
