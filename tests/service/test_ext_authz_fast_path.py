"""Check's fast path (transport/ext_authz_fast.py) answers exactly as the whole decision:
for requests built from a kept cookie token, another user's token, look-alike and legacy
cookies, bearer tokens, header keys in any spelling (only lower-case ones are read) and
methods of every kind, the answer equals the
answer to the same request with ``context_extensions`` set to a default value, which always
goes through the decision."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from session_client import SessionClient

from session_proto.xds.envoy.service.auth.v3 import external_auth_pb2 as authz
from session_service.domain.http_transfer import (
    ACCESS_TOKEN_COOKIE,
    LEGACY_ID_REFRESH_TOKEN_COOKIE,
)
from session_service.domain.http_types import HttpConfig, parse_cookie_header
from session_service.transport.ext_authz import CHECK_METHOD
from session_service.transport.ext_authz_fast import (
    REMEMBERED_COOKIE_LENGTH,
    CheckFastPath,
    cookie_token,
)
from testkit.ext_authz import check_call, numbered_check_request
from tests.service.conftest import MakeService

# Two users' tokens: fixed strings the strategies refer to, replaced per run.
ALICE, BOB = "<alice>", "<bob>"
cookie_parts = st.sampled_from(
    [
        f"sAccessToken={ALICE}",
        "theme=dark",
        f"sAccessToken={ALICE}",
        f"sAccessToken={BOB}",
        f'sAccessToken="{ALICE}"',
        f" sAccessToken = {ALICE} ",
        f"xsAccessToken={BOB}",
        "sAccessToken=",
        "sIdRefreshToken=legacy",
        f"sAccessToken={ALICE}%3D",
        "sAccessToken",
        f"a=1;sAccessToken={ALICE}",
        f"sAccessToken={ALICE}; sAccessToken={BOB}",
    ]
)
requests = st.fixed_dictionaries(
    {
        "method": st.sampled_from(["GET", "POST", "DELETE", "OPTIONS", "TRACE", "HEAD", "get"]),
        "cookies": st.lists(cookie_parts, max_size=4),
        # The Kelvin sign (U+212A) lower-cases to "k".
        "cookie_name": st.sampled_from(["cookie", "Cookie", "coo\u212aie"]),
        "authorization": st.one_of(
            st.none(),
            st.tuples(
                st.sampled_from(["authorization", "Authorization", "AUTHORIZATION"]),
                st.sampled_from([f"Bearer {BOB}", "Bearer not-a-token", f"bearer {BOB}", ALICE]),
            ),
        ),
        "rid": st.booleans(),
    }
)


def build(spec: dict[str, Any], tokens: dict[str, str], **extensions: str) -> authz.CheckRequest:
    def real(text: str) -> str:
        return text.replace(ALICE, tokens[ALICE]).replace(BOB, tokens[BOB])

    request = authz.CheckRequest()
    http = request.attributes.request.http
    http.method, http.path = spec["method"], "/api/items"
    headers = http.headers
    headers[":authority"] = "app.example"
    if spec["cookies"]:
        headers[spec["cookie_name"]] = real("; ".join(spec["cookies"]))
    if spec["authorization"] is not None:
        name, value = spec["authorization"]
        headers[name] = real(value)
    if spec["rid"]:
        headers["rid"] = "session"
    request.attributes.context_extensions.update(extensions)
    return request


@pytest.fixture(params=["NONE", "VIA_CUSTOM_HEADER"])
async def served(
    request: pytest.FixtureRequest, make_service: MakeService, client: SessionClient
) -> AsyncIterator[tuple[grpc.aio.Channel, dict[str, str]]]:
    service = await make_service(anti_csrf=request.param)
    alice = (await client.create_session("alice")).access_token.token
    bob = (await client.create_session("bob")).access_token.token
    tokens = {ALICE: alice, BOB: bob}
    async with grpc.aio.insecure_channel(service.address) as channel:
        call = check_call(channel)
        for name in tokens:  # kept from the second use on
            for _ in range(2):
                cookie = build({**EMPTY, "cookies": [f"sAccessToken={name}"]}, tokens)
                assert (await call(cookie, timeout=10)).status.code == 0
        yield channel, tokens


EMPTY: dict[str, Any] = {
    "method": "GET",
    "cookies": [],
    "cookie_name": "cookie",
    "authorization": None,
    "rid": False,
}


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(spec=requests)
@example(
    spec={
        **EMPTY,
        "cookies": [f"sAccessToken={ALICE}"],
        "authorization": ("Authorization", f"Bearer {BOB}"),
    }
)
async def test_the_fast_path_answers_as_the_decision(
    spec: dict[str, Any], served: tuple[grpc.aio.Channel, dict[str, str]]
) -> None:
    channel, tokens = served
    call = check_call(channel)
    answered = await call(build(spec, tokens), timeout=10)
    decided = await call(build(spec, tokens, session_required="true"), timeout=10)
    assert answered == decided, spec


async def test_envoys_own_request_shape_is_answered_by_the_fast_path(
    make_service: MakeService, client: SessionClient
) -> None:
    """A CheckRequest as Envoy sends it (peers, time, stream id, a browser's headers, an
    x-request-id of its own per request, other cookies around the token) gets the kept
    answer, the very bytes the decision answers with."""
    service = await make_service()
    token = (await client.create_session("carol", {"plan": "pro"})).access_token.token
    cookie = {"cookie": f"theme=dark; sAccessToken={token}; sFrontToken=1"}
    fast = CheckFastPath(service.servicer.fast_path, HttpConfig())
    async with grpc.aio.insecure_channel(service.address) as channel:
        call = check_call(channel)
        raw = channel.unary_unary(CHECK_METHOD)
        for number in range(2):  # kept from the second use on
            assert (await call(numbered_check_request(cookie, number), timeout=10)).status.code == 0
        for number in range(2, 6):
            request = numbered_check_request(cookie, number)
            kept = fast.answer(request)
            assert kept is not None, "the fast path did not answer"
            # Any context_extensions send the request through the whole decision.
            routed = {"check_database": "false"}
            decided = numbered_check_request(cookie, number, context_extensions=routed)
            assert kept.data == await raw(decided.SerializeToString(), timeout=10)
            assert await raw(request.SerializeToString(), timeout=10) == kept.data


cookie_texts = st.lists(
    st.sampled_from(
        [
            "sAccessToken=a.b.c",
            "sAccessToken=x%3Dy",
            'sAccessToken="q"',
            "sAccessToken=",
            " sAccessToken = s ",
            "sAccessTokenX=n",
            "xsAccessToken=n",
            "sIdRefreshToken=l",
            "theme=sAccessToken",
            "sAccessToken",
            "a=1",
            "",
        ]
    ),
    max_size=4,
).flatmap(lambda parts: st.sampled_from([";".join(parts), "; ".join(parts)]))


@given(cookie=cookie_texts)
@example(cookie="theme=dark; sAccessToken=t; sFrontToken=1")
@example(cookie="sAccessToken=t;sAccessToken=u")
def test_the_fast_cookie_read_agrees_with_the_cookie_parser(cookie: str) -> None:
    """``cookie_token`` finds what ``parse_cookie_header`` reads, or leaves it to the
    decision."""
    token = cookie_token(cookie)
    if token is not None:
        cookies = parse_cookie_header(cookie)
        assert LEGACY_ID_REFRESH_TOKEN_COOKIE not in cookies
        assert cookies.get(ACCESS_TOKEN_COOKIE) == token


async def test_a_remembered_cookie_header_is_compared_whole(
    make_service: MakeService, client: SessionClient
) -> None:
    """Cookie headers that end alike (found under the same key among the remembered ones)
    are each answered with their own token's answer; at most ``remember`` are kept."""
    service = await make_service()
    padding = "theme=" + "d" * 80  # longer than the part of a header that finds it
    users = ("dana", "eve", "fay")
    tokens = [(await client.create_session(user)).access_token.token for user in users]
    cookies = [{"cookie": f"sAccessToken={token}; {padding}"} for token in tokens]
    fast = CheckFastPath(service.servicer.fast_path, HttpConfig(), remember=2)
    async with grpc.aio.insecure_channel(service.address) as channel:
        raw = channel.unary_unary(CHECK_METHOD)
        decided = []
        for cookie in cookies:
            for number in range(2):  # kept from the second use on
                request = numbered_check_request(cookie, number).SerializeToString()
                answer = await raw(request, timeout=10)
            decided.append(answer)
        for number in range(2, 8):  # each header replaces the one before under its key
            for cookie, expected, user in zip(cookies, decided, users, strict=True):
                kept = fast.answer(numbered_check_request(cookie, number))
                assert kept is not None and kept.data == expected
                assert user.encode() in kept.data
        assert fast.remembered == 1
        # Distinct ends: every header is remembered, up to the bound.
        for number, cookie in enumerate(cookies):
            varied = {"cookie": f"{cookie['cookie']}; n={number}"}
            assert fast.answer(numbered_check_request(varied, 9)) is not None
        assert fast.remembered == 2
        # A header longer than the bound, or not ASCII (up to 4 bytes a character in
        # Python), is answered and not remembered.
        long = {"cookie": f"{cookies[0]['cookie']}; {'x' * REMEMBERED_COOKIE_LENGTH}=1"}
        wide = {"cookie": f"{cookies[0]['cookie']}; mood=\U0001f600"}
        fresh = CheckFastPath(service.servicer.fast_path, HttpConfig())
        for cookie in (long, wide):
            for number in range(2):
                assert fresh.answer(numbered_check_request(cookie, number)) is not None
        assert fresh.remembered == 0


async def test_an_answer_kept_for_a_bearer_token_serves_its_cookie(
    make_service: MakeService, client: SessionClient
) -> None:
    """An answer is kept by the session it allowed, however the token came: a token seen as
    a bearer token is answered from the fast path when it comes in a cookie."""
    service = await make_service()
    token = (await client.create_session("gus")).access_token.token
    fast = CheckFastPath(service.servicer.fast_path, HttpConfig())
    cookie = {"cookie": f"sAccessToken={token}"}
    async with grpc.aio.insecure_channel(service.address) as channel:
        raw = channel.unary_unary(CHECK_METHOD)
        bearer = numbered_check_request({"authorization": f"Bearer {token}"}, 1)
        for _ in range(2):  # kept from the second use on
            by_bearer = await raw(bearer.SerializeToString(), timeout=10)
        kept = fast.answer(numbered_check_request(cookie, 2))
        assert kept is not None and kept.data == by_bearer
        routed = numbered_check_request(cookie, 3, context_extensions={"check_database": "false"})
        assert await raw(routed.SerializeToString(), timeout=10) == kept.data
