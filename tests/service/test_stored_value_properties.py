"""Property-based tests (hypothesis) of values other backends store through the core or sign
into tokens (lone surrogates, numbers beyond a double or int64, non-finite numbers, nesting
past the limit): every RPC gives a typed answer, never INTERNAL/UNKNOWN or a 500 in the
core, and serves or refuses the session the same way."""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc
import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from session_client import ClaimsValidationResult, SessionClient, SessionStatus, has_value

from session_common.json_values import json_depth
from session_core.app import RunningCore
from session_proto.session.v1 import session_service_pb2 as pb
from session_service.domain.limits import MAX_CLAIM_VALUE_DEPTH, MAX_JSON_DEPTH
from session_service.server import RunningService
from session_service.transport.converters import dict_to_struct
from tests.reliability import STATS
from tests.service import fetched_claims
from tests.service.conftest import MakeService
from tests.service.test_stored_data import signed_like

FETCHED_CLAIMS = "tests.service.fetched_claims"


async def _validate_in_jwt_payload(channel: grpc.aio.Channel, value: Any) -> Any:
    """ValidateClaimsInJwtPayload of a payload holding ``value``, with ``value`` in the
    user_context too, as protobuf carries them (the service's own conversion: the client's
    refuses what a Struct cannot hold)."""
    validator = pb.ClaimValidator.FromString(has_value("c", 1).SerializeToString())
    request = pb.ValidateClaimsInJwtPayloadRequest(user_id="hostile", claim_validators=[validator])
    # CopyFrom: a constructor argument would be parsed again, past protobuf's depth limit.
    request.jwt_payload.CopyFrom(dict_to_struct({"c": {"v": value, "t": 1}, "x": value}))
    request.user_context.CopyFrom(dict_to_struct({"u": value}))
    call = channel.unary_unary("/session.v1.SessionService/ValidateClaimsInJwtPayload")
    answer = pb.ValidateClaimsInJwtPayloadResponse.FromString(
        await call(request.SerializeToString(), timeout=10)
    )
    return ClaimsValidationResult.from_pb(answer)


# Strings with lone surrogates (what JSON's \ud800 escapes give), numbers beyond a double and
# beyond int64, non-finite numbers (JSON has none: the core must refuse them with a 400).
# (sampled_from: hypothesis would merge two characters() strategies, dropping surrogates)
surrogates = st.sampled_from(["\ud800", "\udbff", "\udc00", "\udfff", "\ud83d"])
hostile_text = st.lists(surrogates | st.characters(), max_size=8).map("".join)
hostile_leaves = (
    st.none()
    | st.booleans()
    | hostile_text
    | st.integers(-(2**70), 2**70)
    | st.sampled_from([10**400, -(10**400), 2**63, -(2**63) - 1, 1e308, -0.0])
    | st.sampled_from([math.nan, math.inf, -math.inf])
    | st.floats()
)
hostile_json = st.recursive(
    hostile_leaves,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(hostile_text, inner, max_size=3),
    max_leaves=8,
)


@st.composite
def stored_values(draw: st.DrawFn) -> Any:
    """A hostile value wrapped in up to 40 objects and arrays (the limit is 32)."""
    value = draw(hostile_json)
    depth = draw(st.integers(0, 40))
    for as_list in draw(st.lists(st.booleans(), min_size=depth, max_size=depth)):
        value = [value] if as_list else {draw(hostile_text): value}
    return value


def _has_surrogate(value: Any) -> bool:
    text = json.dumps(value, ensure_ascii=False, allow_nan=True)
    return any(0xD800 <= ord(c) <= 0xDFFF for c in text)


def _is_json(value: Any) -> bool:
    """JSON has no NaN or infinities (integers of any size it has)."""
    try:
        json.dumps(value, allow_nan=False)
    except ValueError:
        return False
    return True


# A surrogate pair held as two code points, or a lone surrogate.
_SURROGATES = re.compile("([\ud800-\udbff][\udc00-\udfff])|[\ud800-\udfff]")


def _utf8_text(text: str) -> str:
    """``text`` as a protobuf string carries it: a surrogate pair is the character it
    encodes, a lone surrogate U+FFFD."""

    def character(match: re.Match[str]) -> str:
        if match.group(1) is None:
            return "\ufffd"
        high, low = (ord(c) for c in match.group(1))
        return chr(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))

    return _SURROGATES.sub(character, text)


def _as_carried(value: Any) -> Any:
    """``value`` as a request's Struct carries it: strings and keys as protobuf strings
    (keys that then coincide are one key, holding the later one's value, as a JSON parser
    reads a repeated key), numbers as doubles (an integer beyond a double's range is
    ±infinity)."""
    if isinstance(value, dict):
        return {_utf8_text(key): _as_carried(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_as_carried(item) for item in value]
    if isinstance(value, str):
        return _utf8_text(value)
    if value is None or isinstance(value, bool):
        return value
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def _numbers(value: Any) -> Iterator[int | float]:
    if isinstance(value, dict):
        for item in value.values():
            yield from _numbers(item)
    elif isinstance(value, list):
        for item in value:
            yield from _numbers(item)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        yield value


def _struct_carries(value: Any) -> bool:
    """A request's Struct holding ``value`` is one the service accepts: every number in it,
    as carried, is finite, and it nests within the limit of a claim value."""
    carried = _as_carried(value)
    return (
        all(math.isfinite(number) for number in _numbers(carried))
        and json_depth(carried) <= MAX_CLAIM_VALUE_DEPTH
    )


TIMES = st.sampled_from([None, 10**30, -(10**30), 2**63, 10**400])
# UNAVAILABLE only where a claim's fetch_value runs (the assertions say so).
ANSWERED = {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.UNAVAILABLE}


@pytest.fixture
async def claims_service(make_service: MakeService) -> AsyncIterator[RunningService]:
    """A service with claims to fetch (``tests/service/fetched_claims.py``) and a token limit
    out of reach, so that each answer below depends on nesting and JSON alone (the limit has
    tests of its own: test_token_size.py, test_fetched_claim_limits.py)."""
    fetched_claims.reset()
    yield await make_service(claims_module=FETCHED_CLAIMS, max_access_token_bytes=60_000)
    fetched_claims.reset()


@pytest.fixture
async def claims_channel(claims_service: RunningService) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(claims_service.address) as channel:
        yield channel


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(value=stored_values(), exp=TIMES)
# Keys that protobuf carries as one (lone surrogates become U+FFFD) hold the later value
# alone: the number beyond a double under the first is not carried, nor are the 30 arrays
# (a value 31 deep before, 2 as carried). (F601: ruff reads lone surrogates as U+FFFD.)
@example(value={"\ud800": 10**400, "\udbff": None}, exp=None)  # noqa: F601
@example(
    value={"\ud800": json.loads("[" * 30 + "1" + "]" * 30), "\udbff": [1]},  # noqa: F601
    exp=None,
)
async def test_values_stored_through_the_core_get_a_typed_answer_from_every_rpc(
    value: Any,
    exp: int | None,
    claims_channel: grpc.aio.Channel,
    claims_service: RunningService,
    core: RunningCore,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Another backend writes ``value`` into a session through the core's HTTP API (and a
    token is signed with it, and with ``exp``; a claim's ``fetch_value`` returns it; a caller
    validates a payload and sends a user_context holding it): no RPC answers INTERNAL or
    UNKNOWN, the core never answers 500, and the session is served or refused the same way by
    every RPC."""
    caplog.set_level(logging.ERROR)
    channel, service = claims_channel, claims_service
    client = SessionClient(channel)
    created = await client.create_session("hostile", {"c": {"v": 1, "t": 1}})
    handle, token = created.session.session_handle, created.session.access_token
    stored_payload: dict[str, Any] = {"c": {"v": value, "t": 1}, "x": value}
    async with httpx.AsyncClient(base_url=core.url, headers={"cdi-version": "2.21"}) as http:
        written = []
        for path, field in (
            ("/recipe/jwt/data", "userDataInJWT"),
            ("/recipe/session/data", "userDataInDatabase"),
        ):
            body = json.dumps({"sessionHandle": handle, field: stored_payload})
            reply = await http.put(path, content=body)
            STATS["core writes"] += 1
            # NaN and Infinity are not JSON: refused like any other bad input.
            assert (reply.status_code, reply.text) in (
                (200, '{"status":"OK"}\n'),
                (400, "Invalid Json Input\n"),
            ), reply.text
            written.append(reply.status_code == 200)
    payload_fits = not written[0] or json_depth(stored_payload) <= MAX_JSON_DEPTH
    data_fits = not written[1] or json_depth(stored_payload) <= MAX_JSON_DEPTH
    STATS["stored values past the nesting limit"] += not payload_fits
    STATS["stored values refused by the core (NaN, Infinity)"] += not written[0]
    STATS["stored values with lone surrogates"] += written[0] and _has_surrogate(value)
    signed = signed_like(core, token, x=value, **({} if exp is None else {"exp": exp}))

    outcomes: dict[str, Any] = {}

    async def answer(name: str, call: Any) -> Any:
        STATS["property examples' RPCs"] += 1
        try:
            result = await call
        except grpc.aio.AioRpcError as exc:
            STATS["INTERNAL or UNKNOWN answers"] += exc.code() in (
                grpc.StatusCode.INTERNAL,
                grpc.StatusCode.UNKNOWN,
            )
            assert exc.code() in ANSWERED, (name, exc.code(), exc.details())
            outcomes[name] = exc.code()
            return None
        outcomes[name] = getattr(result, "status", grpc.StatusCode.OK)
        return result

    await answer("check", client.get_session(token, check_database=True))
    await answer("signed", client.get_session(signed))
    await answer("signed, check", client.get_session(signed, check_database=True))
    await answer("info", client.get_session_information(handle))
    await answer("claim", client.get_claim_value(handle, "c"))
    await answer(
        "validate",
        client.validate_claims_for_session_handle(handle, [has_value("c", 1, max_age_seconds=9)]),
    )
    await answer("refresh", client.refresh_session(created.refresh_token.token))
    await answer("set", client.set_claim_value(handle, "s", 1))
    await answer("remove", client.remove_claim(handle, "s"))
    await answer("merge", client.merge_into_access_token_payload(handle, {"m": 1}))
    await answer("data", client.update_session_data_in_database(handle, {"d": 1}))
    # Claims: the fetch_value of "tier" returns the value.
    fetched_claims.values["tier"] = value
    await answer("fetch", client.fetch_and_set_claim(handle, "tier"))
    await answer("in JWT", _validate_in_jwt_payload(channel, value))
    # (last: the merge replaces the stored payload with the token's and the value)
    await answer("fetched", client.get_session(token, claim_validators=[has_value("tier", 1)]))
    # Without a payload the stored one is replaced by {} (as the SDK sends), whatever it was.
    await answer("regenerate", client.regenerate_access_token(token))
    await answer("revoke", client.revoke_session(handle))

    # The same decision everywhere: a stored payload past the limit is refused by every
    # RPC that serves it, and served by all of them otherwise.
    unauthorised = SessionStatus.UNAUTHORISED
    refused = grpc.StatusCode.INVALID_ARGUMENT
    if payload_fits:
        assert {outcomes[n] for n in ("check", "refresh", "set", "merge")} == {SessionStatus.OK}, (
            outcomes
        )
        assert outcomes["claim"] is SessionStatus.OK
        assert outcomes["validate"] in (SessionStatus.OK, SessionStatus.INVALID_CLAIMS)
    else:
        assert [outcomes[n] for n in ("check", "refresh")] == [unauthorised] * 2
        assert [outcomes[n] for n in ("claim", "validate", "set", "merge")] == [refused] * 4
    assert outcomes["info"] is (SessionStatus.OK if payload_fits and data_fits else refused)
    assert outcomes["data"] is SessionStatus.OK and outcomes["revoke"] is SessionStatus.OK
    assert outcomes["regenerate"] is SessionStatus.OK
    # A fetched value is stored when JSON within the limit, else UNAVAILABLE; FetchAndSetClaim
    # reads the session first, refused past the limit as SetClaimValue is.
    unavailable = grpc.StatusCode.UNAVAILABLE
    fetchable = _is_json(value) and json_depth(value) <= MAX_CLAIM_VALUE_DEPTH
    STATS["fetched values refused (not JSON, or too deep)"] += not fetchable
    if not payload_fits:
        assert outcomes["fetch"] is refused
    else:
        assert outcomes["fetch"] is (SessionStatus.OK if fetchable else unavailable), outcomes
    validated = {SessionStatus.OK, SessionStatus.INVALID_CLAIMS}
    assert outcomes["fetched"] in (validated if fetchable else {unavailable}), outcomes
    # A payload and user_context holding the value: refused when a number in it, as the
    # request's Struct carries it, is not finite, or it nests past the limit
    # ({"c": {"v": value}}).
    if _struct_carries(value):
        assert outcomes["in JWT"] in validated, outcomes
    else:
        assert outcomes["in JWT"] is refused, outcomes
    # The token's times are checked before its payload's nesting.
    if exp is not None and exp < 0:
        assert outcomes["signed"] is SessionStatus.TRY_REFRESH_TOKEN
    elif json_depth(value) <= MAX_JSON_DEPTH - 1:  # the token's payload nests one more
        assert outcomes["signed"] is SessionStatus.OK, outcomes
    else:
        assert outcomes["signed"] is unauthorised, outcomes
    assert service.servicer.internal_errors == 0
    assert [r for r in caplog.records if r.name.startswith("session_core")] == []
