"""Claim values the service fetches (``--claims-module``) are held to the limits of
everything it writes (docs/security.md, "Limits"): a value with which the session's payload
would nest past ``MAX_JSON_DEPTH``, or its access tokens grow past ``max_access_token_bytes``,
is not stored, and GetSession, ValidateClaimsForSessionHandle and FetchAndSetClaim answer
UNAVAILABLE naming the claim and the limit, as for a ``fetch_value`` that fails. Their reads
answer a stored payload past the nesting limit as every read does (INVALID_ARGUMENT on
``session_handle``), and ``user_context`` goes through the conversions of every Struct.

The claims are ``tests/service/fetched_claims.py``; its ``values`` say what ``fetch_value``
returns.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc
import httpx
import pytest
from session_client import SessionClient, SessionStatus, has_value

from session_proto.session.v1 import session_service_pb2 as pb
from session_service.domain.limits import MAX_CLAIM_VALUE_DEPTH, MAX_JSON_DEPTH
from session_service.server import RunningService
from session_service.transport.converters import dict_to_struct
from tests.reliability import STATS
from tests.service import fetched_claims
from tests.service.conftest import MakeService
from tests.service.fetched_claims import fetch_calls
from tests.service.test_stored_data import (
    nested,
    payload_of_depth,
    rpc_code,
    store_through_core,
)
from tests.service.test_token_size import Session, largest_accepted

CLAIMS = "tests.service.fetched_claims"
ISSUER = "http://localhost:3001/auth"
NOT_STORED = "returned a value the session cannot carry, not stored: the payload with it "
TIER = [has_value("tier", "gold")]
ACCEPTED = {SessionStatus.OK, SessionStatus.INVALID_CLAIMS}


@pytest.fixture(autouse=True)
def _fresh_claims() -> Iterator[None]:
    fetched_claims.reset()
    yield
    fetched_claims.reset()


@pytest.fixture
async def claims_client(make_service: MakeService) -> AsyncIterator[SessionClient]:
    service = await make_service(claims_module=CLAIMS)
    async with SessionClient.insecure(service.address) as client:
        yield client


class FetchingSession(Session):
    """A session whose ``tier`` is fetched through one of the three RPCs that fetch. GetSession
    always uses the session's first access token, which has no ``tier``, so every call
    fetches; ValidateClaimsForSessionHandle removes the stored value first, for the same."""

    def __init__(self, client: SessionClient, created: Any) -> None:
        super().__init__(client, created)
        self.first_access: str = created.session.access_token

    async def fetch(self, rpc: str) -> Any:
        STATS["RPCs made"] += 1
        if rpc == "GetSession":
            return await self.client.get_session(
                self.first_access, anti_csrf_check=False, claim_validators=TIER
            )
        if rpc == "ValidateClaimsForSessionHandle":
            assert (await self.client.remove_claim(self.handle, "tier")).status is SessionStatus.OK
            return await self.client.validate_claims_for_session_handle(self.handle, TIER)
        assert rpc == "FetchAndSetClaim"
        return await self.client.fetch_and_set_claim(self.handle, "tier")

    async def stored(self, rpc: str, value: Any, limit: int) -> bool:
        """Fetch ``value`` through ``rpc``: True when it was stored, False when it was refused
        for the token limit ``limit``, leaving the stored payload as it was."""
        fetched_claims.values["tier"] = value
        before = await self.stored_payload()
        if rpc == "ValidateClaimsForSessionHandle":
            before.pop("tier", None)  # what the call removes first
        code, details = await rpc_code(lambda: self.fetch(rpc))
        if code is grpc.StatusCode.OK:
            assert (await self.stored_payload())["tier"]["v"] == value
            return True
        assert code is grpc.StatusCode.UNAVAILABLE, details
        assert details.startswith(f"fetch_value of claim 'tier' {NOT_STORED}makes the session's")
        assert details.endswith(
            f"more than the service's limit of {limit} (max_access_token_bytes)"
        )
        assert await self.stored_payload() == before
        return False


RPCS = ["GetSession", "ValidateClaimsForSessionHandle", "FetchAndSetClaim"]


@pytest.mark.parametrize("rpc", RPCS)
async def test_a_fetched_value_past_the_nesting_limit_is_not_stored(
    claims_client: SessionClient, rpc: str, caplog: pytest.LogCaptureFixture
) -> None:
    session = FetchingSession(claims_client, await claims_client.create_session("nested"))
    # At the limit: stored, and served back (the payload then nests MAX_JSON_DEPTH levels).
    fetched_claims.values["tier"] = deepest = nested(MAX_CLAIM_VALUE_DEPTH)
    result = await session.fetch(rpc)
    assert result.status in ACCEPTED
    assert (await session.stored_payload())["tier"]["v"] == deepest
    if rpc == "GetSession":
        assert result.session is not None
        assert result.session.access_token_payload["tier"]["v"] == deepest
    before = await session.stored_payload()
    if rpc == "ValidateClaimsForSessionHandle":
        del before["tier"]

    fetched_claims.values["tier"] = nested(MAX_CLAIM_VALUE_DEPTH + 1)
    caplog.set_level(logging.ERROR, logger="session_service")
    code, details = await rpc_code(lambda: session.fetch(rpc))
    assert code is grpc.StatusCode.UNAVAILABLE
    assert details == (
        f"fetch_value of claim 'tier' {NOT_STORED}nests {MAX_JSON_DEPTH + 1} levels of objects "
        f"and arrays, more than the {MAX_JSON_DEPTH} the service can return (protobuf's "
        "nesting limit)"
    )
    assert await session.stored_payload() == before
    # The operator's log has the line; there is no exception whose message to withhold.
    logged = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert logged == [f"{rpc}: {details}"]


@pytest.mark.parametrize(("limit", "anti_csrf"), [(8000, "NONE"), (4000, "VIA_TOKEN")])
async def test_fetched_values_just_below_and_above_the_token_limit(
    make_service: MakeService, limit: int, anti_csrf: str
) -> None:
    """For each RPC that fetches, the longest ``tier`` value stored (by bisection) gives
    tokens that verify after a refresh (the longest a session gets); one more byte is
    refused and changes nothing."""
    service = await make_service(
        claims_module=CLAIMS, max_access_token_bytes=limit, anti_csrf=anti_csrf
    )
    longest: dict[str, int] = {}
    async with SessionClient.insecure(service.address) as client:
        for rpc in RPCS:
            session = FetchingSession(client, await client.create_session(f"{rpc}-{limit}"))

            async def stored(n: int, session: FetchingSession = session, rpc: str = rpc) -> bool:
                return await session.stored(rpc, "x" * n, limit)

            n = await largest_accepted(stored, limit)
            assert not await stored(n + 1)
            assert await stored(n)  # (ValidateClaimsForSessionHandle removed it first)
            longest[rpc] = len(await session.longest_token())
    for rpc, length in longest.items():
        assert length <= limit, (rpc, length)
        STATS[f"longest token with a value fetched through {rpc} at limit {limit}"] = length


async def test_values_fetched_together_are_named_together(claims_client: SessionClient) -> None:
    """GetSession fetching two claims whose values only together pass the limit names both.
    (``plan`` is fetched from the request's user_context.)"""
    created = await claims_client.create_session("two")
    half = "y" * 3000
    fetched_claims.values["tier"] = half
    validators = [has_value("tier", half), has_value("plan", half)]
    code, details = await rpc_code(
        lambda: claims_client.get_session(
            created.session.access_token, claim_validators=validators, user_context={"plan": half}
        )
    )
    assert code is grpc.StatusCode.UNAVAILABLE
    assert details.startswith(
        "fetch_value of claims 'tier' and 'plan' returned values the session cannot carry, "
        "not stored: the payload with them makes the session's access tokens up to "
    )
    assert fetch_calls == {"tier": 1, "plan": 1}
    # Each alone fits.
    alone = await claims_client.get_session(
        created.session.access_token, claim_validators=validators[:1]
    )
    assert alone.status is SessionStatus.OK and alone.new_access_token is not None
    STATS["RPCs made"] += 2


async def test_a_session_stored_past_the_nesting_limit_is_refused_before_fetching(
    claims_client: SessionClient, core_http: httpx.AsyncClient
) -> None:
    created = await claims_client.create_session("stored-deep")
    handle = created.session.session_handle
    too_deep = {**payload_of_depth(MAX_JSON_DEPTH + 1), "iss": ISSUER}
    await store_through_core(core_http, handle, jwt=too_deep)
    for call in (
        lambda: claims_client.fetch_and_set_claim(handle, "tier"),
        lambda: claims_client.validate_claims_for_session_handle(handle, TIER),
    ):
        code, details = await rpc_code(call)
        assert code is grpc.StatusCode.INVALID_ARGUMENT
        assert details.startswith(
            "session_handle: the session's stored access-token payload nests "
            f"{MAX_JSON_DEPTH + 1} levels"
        )
    assert fetch_calls == {}

    # Session data past the limit is refused only where it would be returned.
    await store_through_core(
        core_http, handle, jwt={"iss": ISSUER}, data=payload_of_depth(MAX_JSON_DEPTH + 1)
    )
    code, details = await rpc_code(lambda: claims_client.get_session_information(handle))
    assert code is grpc.StatusCode.INVALID_ARGUMENT
    assert details.startswith("session_handle: the session's stored session data nests")
    assert (await claims_client.fetch_and_set_claim(handle, "tier")).status is SessionStatus.OK
    validated = await claims_client.validate_claims_for_session_handle(
        handle, [has_value("verified", True)]
    )
    assert validated.status is SessionStatus.OK
    assert fetch_calls == {"tier": 1, "verified": 1}
    STATS["RPCs made"] += 7


async def test_fetched_strings_with_lone_surrogates_are_served_as_replacement_characters(
    claims_client: SessionClient,
) -> None:
    """A claim source holding half an emoji (a JavaScript backend cut it): stored as the core
    stores it, served with U+FFFD, like any stored string."""
    created = await claims_client.create_session("surrogate")
    fetched_claims.values["tier"] = "g\ud83dld"
    result = await claims_client.get_session(created.session.access_token, claim_validators=TIER)
    assert result.status is SessionStatus.INVALID_CLAIMS and result.session is not None
    assert result.session.access_token_payload["tier"]["v"] == "g\ufffdld"
    reason = result.invalid_claims[0].reason
    assert reason is not None and reason["actualValue"] == "g\ufffdld"
    handle = created.session.session_handle
    assert (await claims_client.fetch_and_set_claim(handle, "tier")).status is SessionStatus.OK
    assert (await claims_client.get_claim_value(handle, "tier")).value == "g\ufffdld"
    STATS["RPCs made"] += 3


def _request_bytes(user_context: dict[str, Any]) -> bytes:
    request = pb.GetSessionInformationRequest(
        session_handle="h", user_context=dict_to_struct(user_context)
    )
    data: bytes = request.SerializeToString()
    return data


async def test_user_context_is_converted_like_every_struct(service: RunningService) -> None:
    """What a request's Struct cannot hold is refused the same way in user_context: a
    non-finite number (INVALID_ARGUMENT naming the field), and a string that is not UTF-8,
    such as a lone surrogate's encoding, which protobuf itself refuses to parse."""
    valid = _request_bytes({"s": "abc"})
    assert valid.count(b"abc") == 1
    # U+D800 as UTF-8 would spell it, in place of three ASCII characters.
    surrogate = valid.replace(b"abc", b"\xed\xa0\x80")
    async with grpc.aio.insecure_channel(service.address) as channel:
        method = channel.unary_unary("/session.v1.SessionService/GetSessionInformation")
        cases: list[tuple[bytes, str]] = [
            (_request_bytes({"n": float("nan")}), "user_context.n: "),
            (surrogate, "request: is not a valid session.v1.GetSessionInformationRequest"),
        ]
        for data, expected in cases:

            async def send(data: bytes = data) -> Any:
                return await method(data, timeout=10)

            code, details = await rpc_code(send)
            assert code is grpc.StatusCode.INVALID_ARGUMENT
            assert details.startswith(expected), details
        # The valid bytes are served (there is no such session).
        answer = pb.GetSessionInformationResponse.FromString(await method(valid, timeout=10))
        assert answer.status == pb.SESSION_STATUS_SESSION_DOES_NOT_EXIST
