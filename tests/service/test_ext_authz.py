"""Envoy's ``Authorization/Check`` on the service's gRPC port, called as Envoy calls it
(a CheckRequest with the HTTP request's lower-case headers and the route's
context_extensions), against a real service and core: what Envoy is told to add upstream,
remove, answer the client, and the gRPC status it reads. The independent client of
tests/service/test_ext_authz_envoy_client.py checks the same from xds-protos' own code."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from session_client import SessionClient, SessionStatus

from session_common.clock import ManualClock
from session_proto.xds.envoy.config.core.v3 import base_pb2
from session_proto.xds.envoy.service.auth.v3 import external_auth_pb2 as authz
from session_service.server import RunningService
from session_service.transport.ext_authz import AUTHORIZATION_SERVICE
from testkit.ext_authz import check_call, check_request
from tests.service.conftest import MakeService

OVERWRITE = base_pb2.HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD
APPEND = base_pb2.HeaderValueOption.APPEND_IF_EXISTS_OR_ADD
UNAUTHENTICATED, PERMISSION_DENIED, INVALID_ARGUMENT = 16, 7, 3


async def check(channel: grpc.aio.Channel, request: authz.CheckRequest) -> authz.CheckResponse:
    response: authz.CheckResponse = await check_call(channel)(request, timeout=10)
    return response


def headers(options: Any) -> list[tuple[str, str, int]]:
    return [(o.header.key, o.header.value, o.append_action) for o in options]


def body(response: authz.CheckResponse) -> Any:
    return json.loads(response.denied_response.body)


async def test_a_cookie_token_is_allowed_with_upstream_headers_and_forged_copies_removed(
    channel: grpc.aio.Channel, client: SessionClient
) -> None:
    created = await client.create_session("user-1", {"role": "admin"})
    token = created.access_token.token
    forged = {"X-Session-User-Id": "admin", "cookie": f"a=1; sAccessToken={token}"}
    response = await check(channel, check_request(forged))

    assert response.status.code == 0 and response.WhichOneof("http_response") == "ok_response"
    ok = response.ok_response
    upstream = {key: (value, action) for key, value, action in headers(ok.headers)}
    assert upstream["x-session-user-id"] == ("user-1", OVERWRITE)
    assert upstream["x-session-handle"] == (created.session.session_handle, OVERWRITE)
    assert '"role":"admin"' in _b64(upstream["x-session-payload"][0])
    assert set(ok.headers_to_remove) == {
        "x-session-user-id",
        "x-session-handle",
        "x-session-payload",
    }
    assert not ok.response_headers_to_add


async def test_a_bearer_token_is_allowed(channel: grpc.aio.Channel, client: SessionClient) -> None:
    created = await client.create_session("user-2")
    auth = {"authorization": f"Bearer {created.access_token.token}"}
    response = await check(channel, check_request(auth, method="POST"))
    assert response.status.code == 0
    assert ("x-session-user-id", "user-2", OVERWRITE) in headers(response.ok_response.headers)


async def test_no_token_is_401_unauthorised_and_clears_nothing(channel: grpc.aio.Channel) -> None:
    response = await check(channel, check_request({}))
    assert response.status.code == UNAUTHENTICATED
    denied = response.denied_response
    assert denied.status.code == 401 and body(response) == {"message": "unauthorised"}
    names = [key for key, _, _ in headers(denied.headers)]
    assert names == ["content-type"] and "application/json" in denied.headers[0].header.value


async def test_an_expired_token_is_401_try_refresh_token(
    channel: grpc.aio.Channel, client: SessionClient, clock: ManualClock
) -> None:
    created = await client.create_session("user-3")
    clock.advance(3_601_000)
    response = await check(
        channel, check_request({"cookie": f"sAccessToken={created.access_token.token}"})
    )
    assert response.status.code == UNAUTHENTICATED
    assert response.denied_response.status.code == 401
    assert body(response) == {"message": "try refresh token"}


async def test_a_revoked_session_under_check_database_is_unauthorised_and_cleared(
    make_service: MakeService,
) -> None:
    # Without the revocation feed, which would refuse the session without check_database
    # (docs/revocation.md).
    service = await make_service(revocation_feed=False)
    async with grpc.aio.insecure_channel(service.address) as channel:
        client = SessionClient(channel)
        created = await client.create_session("user-4")
        await client.revoke_session(created.session.session_handle)
        cookie = {"cookie": f"sAccessToken={created.access_token.token}"}
        allowed = await check(channel, check_request(cookie))
        assert allowed.status.code == 0  # not asked: allowed
        response = await check(channel, check_request(cookie, check_database="true"))
    assert response.status.code == UNAUTHENTICATED and body(response) == {"message": "unauthorised"}
    cleared = [
        (v.split("=")[0], a)
        for k, v, a in headers(response.denied_response.headers)
        if k == "set-cookie"
    ]
    # Each cookie its own entry, appended: Envoy sends every one.
    assert sorted(cleared) == [("sAccessToken", APPEND), ("sRefreshToken", APPEND)]


async def test_claim_validators_of_the_route_give_403_with_the_sdk_body(
    channel: grpc.aio.Channel, client: SessionClient, clock: ManualClock
) -> None:
    created = await client.create_session(
        "user-5", {"st-role": {"v": ["user"], "t": clock.now_ms()}}
    )
    cookie = {"cookie": f"sAccessToken={created.access_token.token}"}
    admin = '[{"includes": {"key": "st-role", "value": "admin"}}]'
    response = await check(channel, check_request(cookie, claim_validators=admin))
    assert response.status.code == PERMISSION_DENIED
    assert response.denied_response.status.code == 403
    assert body(response)["message"] == "invalid claim"
    assert body(response)["claimValidationErrors"][0]["id"] == "st-role"
    user = '[{"includes": {"key": "st-role", "value": "user"}}]'
    assert (await check(channel, check_request(cookie, claim_validators=user))).status.code == 0


async def test_session_required_false_lets_a_request_without_a_session_through(
    channel: grpc.aio.Channel,
) -> None:
    forged = {"x-session-user-id": "admin"}
    response = await check(channel, check_request(forged, session_required="false"))
    assert response.status.code == 0
    assert not response.ok_response.headers
    assert "x-session-user-id" in response.ok_response.headers_to_remove


@pytest.mark.parametrize(
    ("extensions", "named"),
    [
        ({"session_required": "maybe"}, "session_required"),
        ({"check_database": "2"}, "check_database"),
        ({"anti_csrf_check": ""}, "anti_csrf_check"),
        ({"claim_validators": "[{"}, "claim_validators"),
        ({"claim_validators": '[{"nope": {}}]'}, "claim_validators"),
    ],
)
async def test_a_bad_route_option_is_a_400_denial_naming_it(
    channel: grpc.aio.Channel, client: SessionClient, extensions: dict[str, str], named: str
) -> None:
    created = await client.create_session("user-6")
    cookie = {"cookie": f"sAccessToken={created.access_token.token}"}
    response = await check(channel, check_request(cookie, **extensions))
    assert response.status.code == INVALID_ARGUMENT
    assert response.denied_response.status.code == 400
    assert named in body(response)["message"]


async def test_anti_csrf_via_custom_header_needs_rid_on_cookie_requests_but_get(
    make_service: MakeService, client: SessionClient
) -> None:
    service = await make_service(anti_csrf="VIA_CUSTOM_HEADER")
    created = await client.create_session("user-7")
    cookie = {"cookie": f"sAccessToken={created.access_token.token}"}
    async with grpc.aio.insecure_channel(service.address) as channel:
        assert (await check(channel, check_request(cookie))).status.code == 0
        post = await check(channel, check_request(cookie, method="POST"))
        assert post.status.code == UNAUTHENTICATED and body(post) == {
            "message": "try refresh token"
        }
        with_rid = await check(channel, check_request({**cookie, "rid": "session"}, method="POST"))
        assert with_rid.status.code == 0
        unchecked = await check(
            channel, check_request(cookie, method="POST", anti_csrf_check="false")
        )
        assert unchecked.status.code == 0


async def test_the_first_use_after_a_refresh_sets_the_new_tokens_on_the_response(
    channel: grpc.aio.Channel, client: SessionClient
) -> None:
    created = await client.create_session("user-8")
    refreshed = await client.refresh_session(created.refresh_token.token)
    assert refreshed.status is SessionStatus.OK and refreshed.access_token is not None
    cookie = {"cookie": f"sAccessToken={refreshed.access_token.token}"}
    response = await check(channel, check_request(cookie))
    assert response.status.code == 0
    added = headers(response.ok_response.response_headers_to_add)
    by_name = {key: (value, action) for key, value, action in added}
    assert by_name["front-token"][1] == OVERWRITE and by_name["front-token"][0] not in (
        "",
        "remove",
    )
    assert by_name["access-control-expose-headers"] == ("front-token", APPEND)
    (cookie_line,) = [
        value for key, value, action in added if key == "set-cookie" and action == APPEND
    ]
    assert cookie_line.startswith("sAccessToken=") and "HttpOnly" in cookie_line
    # The token handed over needs no new one on its next use.
    promoted = cookie_line.split(";")[0].split("=", 1)[1]
    again = await check(channel, check_request({"cookie": f"sAccessToken={promoted}"}))
    assert again.status.code == 0
    assert not again.ok_response.response_headers_to_add


async def test_bytes_that_are_no_check_request_are_invalid_argument(
    channel: grpc.aio.Channel,
) -> None:
    call = channel.unary_unary(f"/{AUTHORIZATION_SERVICE}/Check")
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call(b"\xff\xff\xff", timeout=10)
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT


async def test_health_and_reflection_list_the_authorization_service(
    channel: grpc.aio.Channel, service: RunningService
) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    reported = await health.Check(health_pb2.HealthCheckRequest(service=AUTHORIZATION_SERVICE))
    assert reported.status in (
        health_pb2.HealthCheckResponse.SERVING,
        health_pb2.HealthCheckResponse.NOT_SERVING,
    )

    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    listing = reflection_pb2.ServerReflectionRequest(list_services="")
    (listed,) = [r async for r in stub.ServerReflectionInfo(iter([listing]))]
    assert AUTHORIZATION_SERVICE in {s.name for s in listed.list_services_response.service}
    by_symbol = reflection_pb2.ServerReflectionRequest(file_containing_symbol=AUTHORIZATION_SERVICE)
    (described,) = [r async for r in stub.ServerReflectionInfo(iter([by_symbol]))]
    files = described.file_descriptor_response.file_descriptor_proto
    names = {descriptor_pb2.FileDescriptorProto.FromString(f).name for f in files}
    assert "envoy/service/auth/v3/external_auth.proto" in names


async def test_check_needs_an_api_key_when_keys_are_configured(
    make_service: MakeService, client: SessionClient, tmp_path: Path
) -> None:
    verify_key = "v" * 32
    keys = tmp_path / "keys"
    keys.write_text(f"{verify_key} verify\n")
    service = await make_service(api_keys_file=keys)
    created = await client.create_session("user-9")
    request = check_request({"cookie": f"sAccessToken={created.access_token.token}"})
    async with grpc.aio.insecure_channel(service.address) as channel:
        call = check_call(channel)
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await call(request, timeout=10)
        assert raised.value.code() is grpc.StatusCode.UNAUTHENTICATED
        # Envoy sends the key as grpc_service.initial_metadata; the verify scope suffices.
        response = await call(request, timeout=10, metadata=(("x-api-key", verify_key),))
        assert response.status.code == 0


def _b64(value: str) -> str:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()


async def test_a_repeated_cookie_token_is_answered_with_the_decisions_own_bytes(
    service: RunningService, channel: grpc.aio.Channel, client: SessionClient
) -> None:
    created = await client.create_session("user-10", {"plan": "pro"})
    token = created.access_token.token
    request = check_request({"cookie": f"sAccessToken={token}"}).SerializeToString()
    raw = channel.unary_unary(f"/{AUTHORIZATION_SERVICE}/Check")
    first = await raw(request, timeout=10)
    # The token cache keeps a token decoded from its second use on; its answer is kept then.
    assert await raw(request, timeout=10) == first
    kept = service.servicer.fast_path.cached(token.encode())
    assert kept is not None and kept.check is not None and kept.check.data == first
    assert await raw(request, timeout=10) == first


async def test_the_fast_path_leaves_to_the_decision_what_it_could_answer_differently(
    channel: grpc.aio.Channel, client: SessionClient
) -> None:
    alice = await client.create_session("alice")
    bob = await client.create_session("bob")
    cookie = {"cookie": f"sAccessToken={alice.access_token.token}"}
    for _ in range(3):  # kept from the second on
        assert (await check(channel, check_request(cookie))).status.code == 0

    # A bearer token is chosen before the cookie; a key Envoy's API cannot send (not
    # lower-case) is not read.
    for name, user in (("authorization", "bob"), ("Authorization", "alice")):
        bearer = {**cookie, name: f"Bearer {bob.access_token.token}"}
        request = check_request({})
        request.attributes.request.http.headers.update(bearer)
        answered = await check(channel, request)
        assert ("x-session-user-id", user, OVERWRITE) in headers(answered.ok_response.headers)
    legacy = {"cookie": f"sIdRefreshToken=x; sAccessToken={alice.access_token.token}"}
    assert body(await check(channel, check_request(legacy))) == {"message": "try refresh token"}
    preflight = await check(channel, check_request(cookie, method="OPTIONS"))
    assert preflight.status.code == 0 and not preflight.ok_response.headers
    # A cookie whose name only ends with the token cookie's is not it.
    lookalike = {"cookie": f"xsAccessToken={alice.access_token.token}"}
    assert (await check(channel, check_request(lookalike))).status.code == UNAUTHENTICATED

    await client.revoke_session(alice.session.session_handle)
    gone = await check(channel, check_request(cookie, check_database="true"))
    assert gone.status.code == UNAUTHENTICATED


async def test_a_kept_answer_does_not_skip_the_rid_check_of_other_methods(
    make_service: MakeService, client: SessionClient
) -> None:
    service = await make_service(anti_csrf="VIA_CUSTOM_HEADER")
    created = await client.create_session("user-11")
    cookie = {"cookie": f"sAccessToken={created.access_token.token}"}
    async with grpc.aio.insecure_channel(service.address) as channel:
        for _ in range(3):
            assert (await check(channel, check_request(cookie))).status.code == 0
        post = await check(channel, check_request(cookie, method="POST"))
        assert post.status.code == UNAUTHENTICATED


async def test_a_promotion_is_not_kept(channel: grpc.aio.Channel, client: SessionClient) -> None:
    created = await client.create_session("user-12")
    refreshed = await client.refresh_session(created.refresh_token.token)
    assert refreshed.access_token is not None
    cookie = {"cookie": f"sAccessToken={refreshed.access_token.token}"}
    for _ in range(3):  # each use of the unpromoted token hands over a new one again
        response = await check(channel, check_request(cookie))
        names = [key for key, _, _ in headers(response.ok_response.response_headers_to_add)]
        assert "front-token" in names and "set-cookie" in names


async def test_raw_headers_as_envoy_encodes_them_are_read_too(
    channel: grpc.aio.Channel, client: SessionClient
) -> None:
    """With ``encode_raw_headers`` Envoy sends ``header_map`` (values as bytes) instead of
    ``headers``."""
    created = await client.create_session("user-13")
    request = authz.CheckRequest()
    http = request.attributes.request.http
    http.method, http.path = "GET", "/api/items"
    raw = http.header_map.headers
    raw.add(key="cookie", raw_value=b"a=1")
    raw.add(key="cookie", raw_value=f"sAccessToken={created.access_token.token}".encode())
    raw.add(key="x-session-user-id", raw_value=b"admin")
    response = await check(channel, request)
    assert response.status.code == 0
    assert ("x-session-user-id", "user-13", OVERWRITE) in headers(response.ok_response.headers)


async def test_only_lower_case_header_keys_are_read_as_envoys_api_states_them(
    channel: grpc.aio.Channel, client: SessionClient
) -> None:
    """Envoy lower-cases every header key (``AttributeContext.HttpRequest.headers`` and
    ``header_map``); a key in another case is no header of the request, in either form."""
    created = await client.create_session("user-14")
    cookie = f"sAccessToken={created.access_token.token}"
    for spelling in ("Cookie", "COOKIE", "coo\u212aie"):  # U+212A lower-cases to "k"
        request = check_request({})
        request.attributes.request.http.headers[spelling] = cookie
        assert body(await check(channel, request)) == {"message": "unauthorised"}
        raw = authz.CheckRequest()
        raw.attributes.request.http.header_map.headers.add(key=spelling, raw_value=cookie.encode())
        assert body(await check(channel, raw)) == {"message": "unauthorised"}
    lower = check_request({"cookie": cookie})
    lower.attributes.request.http.headers["Authorization"] = "Bearer not-a-token"
    assert (await check(channel, lower)).status.code == 0


async def test_a_kept_answer_is_not_given_for_a_session_the_revocation_feed_removed(
    channel: grpc.aio.Channel, client: SessionClient
) -> None:
    """With the revocation feed (docs/revocation.md), Check refuses a removed session as
    GetSession does, its fast path included."""
    created = await client.create_session("user-14")
    cookie = {"cookie": f"sAccessToken={created.access_token.token}"}
    for _ in range(3):  # kept from the second on
        assert (await check(channel, check_request(cookie))).status.code == 0
    await client.revoke_session(created.session.session_handle)
    async with asyncio.timeout(30):  # until the feed brings the removal to GetSession
        while True:
            verified = await client.get_session(created.access_token.token)
            if verified.status is not SessionStatus.OK:
                break
            await asyncio.sleep(0.005)
    assert verified.status is SessionStatus.UNAUTHORISED
    refused = await check(channel, check_request(cookie))
    assert refused.status.code == UNAUTHENTICATED
    assert body(refused) == {"message": "unauthorised"}
