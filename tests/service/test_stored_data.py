"""Values the service did not write: payloads and session data another backend stored
through the core's own HTTP API, and tokens validly signed with values no core issues.

Every one gets a defined answer from every RPC, the same way each time: lone surrogates are
served as U+FFFD, numbers beyond a double as infinities, times beyond int64 clamped (a huge
``exp`` never expires, as in the SDK), and a payload nesting deeper than ``MAX_JSON_DEPTH``
makes the session refused (UNAUTHORISED where a token is served, INVALID_ARGUMENT naming
``session_handle`` where stored data is read) until a write brings it back within the
limit. What the service writes itself is held to that limit up front.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import httpx
import pytest
from google.protobuf import struct_pb2
from session_client import SessionClient, SessionStatus, has_value

from session_core.app import RunningCore
from session_proto.session.v1 import session_service_pb2 as pb
from session_service.domain.limits import MAX_CLAIM_VALUE_DEPTH, MAX_JSON_DEPTH
from tests.reliability import STATS

INT64_MAX = 2**63 - 1
OK = SessionStatus.OK


async def store_through_core(
    http: httpx.AsyncClient, handle: str, jwt: Any = None, data: Any = None
) -> None:
    """Write through the core's API (json.dumps escapes lone surrogates as \\udXXX)."""
    if jwt is not None:
        body = {"sessionHandle": handle, "userDataInJWT": jwt}
        reply = await http.put("/recipe/jwt/data", content=json.dumps(body))
        assert reply.json() == {"status": "OK"}, reply.text
    if data is not None:
        body = {"sessionHandle": handle, "userDataInDatabase": data}
        reply = await http.put("/recipe/session/data", content=json.dumps(body))
        assert reply.json() == {"status": "OK"}, reply.text


def nested(depth: int, leaf: Any = "leaf") -> Any:
    """``depth`` objects and arrays around ``leaf`` (objects outermost, alternating)."""
    value = leaf
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


def payload_of_depth(depth: int) -> dict[str, Any]:
    """A payload object nesting exactly ``depth`` levels (itself included)."""
    return {"deep": nested(depth - 1)}


async def rpc_code(call: Callable[[], Awaitable[Any]]) -> tuple[grpc.StatusCode, str]:
    STATS["RPCs made"] += 1
    try:
        await call()
    except grpc.aio.AioRpcError as exc:
        return exc.code(), exc.details() or ""
    return grpc.StatusCode.OK, ""


async def test_lone_surrogates_are_served_as_replacement_characters(
    client: SessionClient, core_http: httpx.AsyncClient
) -> None:
    created = await client.create_session("surrogates")
    handle = created.session.session_handle
    payload = {"\ud800key": "a\udc00b", "pair": "\ud83d\ude00", "claim": {"v": "\udfff", "t": 1}}
    await store_through_core(core_http, handle, jwt=payload, data={"note": ["\ud800"]})
    served = {"\ufffdkey": "a\ufffdb", "pair": "\U0001f600", "claim": {"v": "\ufffd", "t": 1}}

    info = await client.get_session_information(handle)
    assert info.status is OK and info.info is not None
    assert info.info.custom_claims_in_access_token_payload == served
    assert info.info.session_data_in_database == {"note": ["\ufffd"]}
    assert (await client.get_claim_value(handle, "claim")).value == "\ufffd"
    # The core re-issues the token with the stored payload; both the new token's payload
    # and the refreshed session are served, again and again.
    for _ in range(2):
        checked = await client.get_session(created.session.access_token, check_database=True)
        assert checked.status is OK and checked.session is not None
        assert {k: checked.session.access_token_payload[k] for k in served} == served
    refreshed = await client.refresh_session(created.refresh_token.token)
    assert refreshed.status is OK and refreshed.session is not None
    assert refreshed.session.access_token_payload["\ufffdkey"] == "a\ufffdb"
    local = await client.get_session(refreshed.session.access_token)
    assert local.status is OK and local.session is not None
    assert local.session.access_token_payload["claim"] == {"v": "\ufffd", "t": 1}
    STATS["RPCs made"] += 8


async def test_keys_that_become_one_key_serve_the_later_value_whole(
    client: SessionClient, core_http: httpx.AsyncClient
) -> None:
    """Keys that differ only in lone surrogates are one key on the wire: the later value is
    served, as a JSON parser reads a repeated key, never the two merged (lists joined,
    objects combined)."""
    created = await client.create_session("colliding keys")
    handle = created.session.session_handle
    # (F601: ruff reads lone surrogates as U+FFFD; these keys are distinct.)
    payload = {
        "\ud800": ["a"],
        "\udbff": ["b"],  # noqa: F601
        "o": {"\udc00": {"x": 1}, "\ufffd": {"y": 2}},  # noqa: F601
    }
    data = {"\ufffd": [1, 2], "\udfff": None}  # noqa: F601
    await store_through_core(core_http, handle, jwt=payload, data=data)

    info = await client.get_session_information(handle)
    assert info.status is OK and info.info is not None
    assert info.info.custom_claims_in_access_token_payload == {
        "\ufffd": ["b"],
        "o": {"\ufffd": {"y": 2}},
    }
    assert info.info.session_data_in_database == {"\ufffd": None}
    checked = await client.get_session(created.session.access_token, check_database=True)
    assert checked.status is OK and checked.session is not None
    assert checked.session.access_token_payload["\ufffd"] == ["b"]
    STATS["RPCs made"] += 2


_ISS = "http://localhost:3001/auth"


async def test_nesting_limit_is_the_same_on_every_rpc(
    client: SessionClient, core_http: httpx.AsyncClient, channel: grpc.aio.Channel
) -> None:
    created = await client.create_session("deep", payload_of_depth(MAX_JSON_DEPTH))
    handle = created.session.session_handle
    await client.update_session_data_in_database(handle, payload_of_depth(MAX_JSON_DEPTH))
    # At the limit: served everywhere, and parsed by the (Python) client.
    assert (await client.get_session(created.session.access_token)).status is OK
    info = await client.get_session_information(handle)
    assert info.status is OK and info.info is not None
    assert info.info.session_data_in_database == payload_of_depth(MAX_JSON_DEPTH)

    # One level deeper, written by another backend through the core's API.
    await store_through_core(
        core_http, handle, jwt={**payload_of_depth(MAX_JSON_DEPTH + 1), "iss": _ISS}
    )
    too_deep = f"nests {MAX_JSON_DEPTH + 1} levels of objects and arrays, more than the "
    for _ in range(2):  # the same answer every time
        refused = await client.get_session(created.session.access_token, check_database=True)
        assert refused.status is SessionStatus.UNAUTHORISED and too_deep in refused.message
    refreshed = await client.refresh_session(created.refresh_token.token)
    assert refreshed.status is SessionStatus.UNAUTHORISED and too_deep in refreshed.message
    for call in (
        lambda: client.get_session_information(handle),
        lambda: client.get_claim_value(handle, "deep"),
        lambda: client.validate_claims_for_session_handle(handle, [has_value("c", 1)]),
        lambda: client.merge_into_access_token_payload(handle, {"other": 1}),
        lambda: client.set_claim_value(handle, "c", 1),
    ):
        code, details = await rpc_code(call)
        assert code is grpc.StatusCode.INVALID_ARGUMENT and too_deep in details, details
    # Removing the deep claim brings the session back.
    assert (await client.merge_into_access_token_payload(handle, {"deep": None})).status is OK
    again = await client.get_session(created.session.access_token, check_database=True)
    assert again.status is OK and again.session is not None
    assert "deep" not in again.session.access_token_payload
    assert (await client.refresh_session(created.refresh_token.token)).status is OK

    # Session data too deep: refused where it is read, replaced by an update.
    await store_through_core(core_http, handle, data=payload_of_depth(MAX_JSON_DEPTH + 1))
    code, details = await rpc_code(lambda: client.get_session_information(handle))
    assert code is grpc.StatusCode.INVALID_ARGUMENT
    assert details.startswith("session_handle: the session's stored session data nests 33")
    assert (await client.update_session_data_in_database(handle, {"fresh": True})).status is OK
    assert (await client.get_session_information(handle)).status is OK

    # RegenerateAccessToken replaces the stored payload ({} when given none, as the SDK
    # sends): that brings the session back too.
    await store_through_core(
        core_http, handle, jwt={**payload_of_depth(MAX_JSON_DEPTH + 1), "iss": _ISS}
    )
    regenerated = await client.regenerate_access_token(created.session.access_token)
    assert (regenerated.status, regenerated.user_data_in_jwt) == (OK, {})
    assert (await client.refresh_session(created.refresh_token.token)).status is OK
    STATS["RPCs made"] += 13


Call = Callable[[SessionClient, str, str, Any], Awaitable[Any]]
INPUTS: list[tuple[str, Call, int]] = [
    # (the field named in the refusal, a call putting the value one level down in that
    # field, the field's limit): the writes, then inputs that are only read
    ("access_token_payload", lambda c, h, t, v: c.create_session("w", {"v": v}), MAX_JSON_DEPTH),
    (
        "session_data_in_database",
        lambda c, h, t, v: c.create_session("w", None, {"v": v}),
        MAX_JSON_DEPTH,
    ),
    (
        "access_token_payload_update",
        lambda c, h, t, v: c.merge_into_access_token_payload(h, {"v": v}),
        MAX_JSON_DEPTH,
    ),
    (
        "new_session_data",
        lambda c, h, t, v: c.update_session_data_in_database(h, {"v": v}),
        MAX_JSON_DEPTH,
    ),
    (
        "new_access_token_payload",
        lambda c, h, t, v: c.regenerate_access_token(t, {"v": v}),
        MAX_JSON_DEPTH,
    ),
    ("payload", lambda c, h, t, v: c.create_jwt({"v": v}), MAX_JSON_DEPTH),
    # Claim values go two levels down into the payload ({key: {"v": value}}).
    ("value", lambda c, h, t, v: c.set_claim_value(h, "c", [v]), MAX_CLAIM_VALUE_DEPTH),
    (
        "claim_validators[0].value",
        lambda c, h, t, v: c.get_session(t, claim_validators=[has_value("c", [v])]),
        MAX_CLAIM_VALUE_DEPTH,
    ),
    (
        "jwt_payload",
        lambda c, h, t, v: c.validate_claims_in_jwt_payload("u", {"v": v}),
        MAX_JSON_DEPTH,
    ),
    (
        "user_context",
        lambda c, h, t, v: c.get_session_information(h, user_context={"v": v}),
        MAX_JSON_DEPTH,
    ),
]


@pytest.mark.parametrize(("field", "call", "limit"), INPUTS, ids=[i[0] for i in INPUTS])
async def test_inputs_past_the_nesting_limit_are_refused_naming_field_and_limit(
    client: SessionClient, field: str, call: Call, limit: int
) -> None:
    created = await client.create_session("writer", {"c": {"v": 1, "t": 1}})
    handle, token = created.session.session_handle, created.session.access_token
    # Every call puts the value one level down: nested(limit - 1) makes it exactly the limit.
    code, details = await rpc_code(lambda: call(client, handle, token, nested(limit - 1)))
    assert code is grpc.StatusCode.OK, details
    code, details = await rpc_code(lambda: call(client, handle, token, nested(limit)))
    assert code is grpc.StatusCode.INVALID_ARGUMENT
    assert details == (
        f"{field}: nests {limit + 1} levels of objects and arrays, more than the {limit} "
        "the service can return (protobuf's nesting limit)"
    )
    # Whatever was accepted is served back.
    assert (await client.get_session_information(handle)).status is OK


async def test_a_request_past_protobufs_own_limit_names_it(channel: grpc.aio.Channel) -> None:
    request = pb.CreateSessionRequest(user_id="u")
    leaf = struct_pb2.Value(string_value="x")
    for _ in range(40):
        outer = struct_pb2.Value()
        outer.struct_value.fields["k"].CopyFrom(leaf)
        leaf = outer
    request.access_token_payload.fields["k"].CopyFrom(leaf)
    call = channel.unary_unary("/session.v1.SessionService/CreateSession")
    code, details = await rpc_code(lambda: call(request.SerializeToString(), timeout=10))
    assert code is grpc.StatusCode.INVALID_ARGUMENT
    assert "nests deeper than protobuf's limit of 100 levels" in details, details


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def signed_like(core: RunningCore, token: str, **claims: Any) -> str:
    """``token`` with ``claims`` changed, validly signed with the core's own key: what a core
    (or anyone with its key) could issue, though no CDI 2.21 core does."""
    header_b64, payload_b64, _ = token.split(".")
    payload = json.loads(base64.urlsafe_b64decode(payload_b64 + "=" * (-len(payload_b64) % 4)))
    payload.update(claims)
    body = _b64url(json.dumps(payload).encode())  # NaN and Infinity as Python writes them
    key = core.signing_keys.dynamic_signing_key()
    header = json.loads(base64.urlsafe_b64decode(header_b64 + "=" * (-len(header_b64) % 4)))
    assert header["kid"] == key.kid
    signature = key.sign(f"{header_b64}.{body}".encode())
    return f"{header_b64}.{body}.{_b64url(signature)}"


async def test_signed_times_and_numbers_out_of_range(
    client: SessionClient, core: RunningCore
) -> None:
    created = await client.create_session("times")
    token = created.session.access_token
    never = signed_like(core, token, exp=10**30, huge=10**400, tiny=-(10**400), nan=math.nan)
    for _ in range(3):  # verified, then served from the token cache
        result = await client.get_session(never)
        assert result.status is OK and result.session is not None
        assert result.session.expiry == INT64_MAX  # 10**33 ms, clamped: it never expires
        payload = result.session.access_token_payload
        assert (payload["huge"], payload["tiny"]) == (math.inf, -math.inf)
        assert math.isnan(payload["nan"])
    expected = {
        "iat": (SessionStatus.TRY_REFRESH_TOKEN, "The token is not yet valid (iat)"),
        "exp": (SessionStatus.TRY_REFRESH_TOKEN, "Signature has expired"),
        "nbf": (SessionStatus.TRY_REFRESH_TOKEN, "Not Before claim (nbf) must be an integer."),
    }
    for claim, value in (
        ("iat", 10**30),
        ("exp", -(10**30)),
        ("nbf", math.inf),
        ("nbf", -math.inf),
        ("nbf", math.nan),
    ):
        result = await client.get_session(signed_like(core, token, **{claim: value}))
        assert (result.status, result.message) == expected[claim], (claim, value)
    STATS["RPCs made"] += 8


async def test_stored_numbers_beyond_a_double(
    client: SessionClient, core_http: httpx.AsyncClient
) -> None:
    created = await client.create_session("numbers")
    handle = created.session.session_handle
    stored = {"big": 10**400, "old": {"v": 1, "t": -(10**400)}, "new": {"v": 1, "t": 10**400}}
    await store_through_core(core_http, handle, jwt=stored, data={"big": -(10**400)})
    info = await client.get_session_information(handle)
    assert info.status is OK and info.info is not None
    assert info.info.custom_claims_in_access_token_payload["big"] == math.inf
    assert info.info.session_data_in_database == {"big": -math.inf}
    validated = await client.validate_claims_for_session_handle(
        handle, [has_value("old", 1, max_age_seconds=60), has_value("new", 1, max_age_seconds=60)]
    )
    assert validated.status is SessionStatus.INVALID_CLAIMS
    assert [(e.id, e.reason) for e in validated.invalid_claims] == [
        ("old", {"message": "expired", "ageInSeconds": math.inf, "maxAgeInSeconds": 60})
    ]
    refreshed = await client.refresh_session(created.refresh_token.token)
    assert refreshed.status is OK and refreshed.session is not None
    assert refreshed.session.access_token_payload["big"] == math.inf
    STATS["RPCs made"] += 3
