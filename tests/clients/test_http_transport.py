"""``session_client.http`` without a service: reading requests (headers, cookies, tokens,
the transfer-method choice) and writing responses (exact ``Set-Cookie`` strings)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from session_client.http import (
    Cookie,
    HttpRequest,
    ResponseChanges,
    choose_token,
    default_token_transfer_method,
    is_access_token,
    parse_cookie_header,
    read_token,
)


def _segment(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


V3_HEADER = {"alg": "RS256", "typ": "JWT", "version": "3", "kid": "d-1"}
V3_PAYLOAD = {"sub": "u", "exp": 2, "iat": 1, "sessionHandle": "h", "refreshTokenHash1": "r"}
V2_HEADER = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsInZlcnNpb24iOiIyIn0="
V2_PAYLOAD = {
    "sessionHandle": "h",
    "userData": {},
    "refreshTokenHash1": "r",
    "expiryTime": 2,
    "timeCreated": 1,
}


def _jwt(header: Any, payload: Any) -> str:
    head = header if isinstance(header, str) else _segment(header)
    return f"{head}.{_segment(payload)}.c2ln"


# -- reading ----------------------------------------------------------------------------


def test_cookie_header_parsing() -> None:
    assert parse_cookie_header(None) == {}
    assert parse_cookie_header(' a=1; b="two" ; c=x=y;novalue; =anon; a=2') == {
        "a": "1",  # the first of a repeated name wins (the most specific path comes first)
        "b": "two",
        "c": "x=y",
    }


def test_request_headers_are_case_insensitive_and_repeats_are_joined() -> None:
    request = HttpRequest(
        "POST",
        [
            ("Authorization", "Bearer t"),
            ("Cookie", "a=1"),
            ("cookie", "b=%2Fx%3D"),
            ("X", "1"),
            ("x", "2"),
        ],
    )
    assert request.header("AUTHORIZATION") == "Bearer t"
    assert request.header("x") == "1, 2"
    assert request.header("missing") is None
    assert request.cookie("a") == "1"
    assert request.cookie("b") == "/x="  # URL-decoded, as the SDK reads cookies
    framework_parsed = HttpRequest("GET", {"Cookie": "a=ignored"}, cookies={"a": "%41"})
    assert framework_parsed.cookie("a") == "A"


@pytest.mark.parametrize(
    ("authorization", "expected"),
    [
        ("Bearer abc", "abc"),
        ("Bearer   abc  ", "abc"),
        ("bearer abc", None),  # the SDK matches "Bearer " exactly
        ("Basic abc", None),
        (None, None),
    ],
)
def test_bearer_token(authorization: str | None, expected: str | None) -> None:
    headers = {} if authorization is None else {"authorization": authorization}
    request = HttpRequest("GET", headers)
    assert read_token(request, "access", "header") == expected
    assert read_token(request, "refresh", "header") == expected


def test_cookie_tokens_by_type() -> None:
    request = HttpRequest("GET", {"cookie": "sAccessToken=a; sRefreshToken=r"})
    assert read_token(request, "access", "cookie") == "a"
    assert read_token(request, "refresh", "cookie") == "r"
    assert read_token(HttpRequest("GET", {}), "access", "cookie") is None


@pytest.mark.parametrize(
    ("auth_mode", "for_create", "expected"),
    [
        (None, False, "any"),
        ("cookie", False, "any"),  # st-auth-mode only matters at sign-in
        ("header", False, "any"),
        (None, True, "any"),
        ("header", True, "header"),
        ("cookie", True, "cookie"),
        ("COOKIE", True, "cookie"),
        ("bogus", True, "any"),
    ],
)
def test_default_token_transfer_method(
    auth_mode: str | None, for_create: bool, expected: str
) -> None:
    headers = {} if auth_mode is None else {"st-auth-mode": auth_mode}
    assert default_token_transfer_method(HttpRequest("POST", headers), for_create) == expected


@pytest.mark.parametrize(
    ("allowed", "present", "expected"),
    [
        ("any", {}, None),
        ("any", {"header": "H"}, ("header", "H")),
        ("any", {"cookie": "C"}, ("cookie", "C")),
        ("any", {"header": "H", "cookie": "C"}, ("header", "H")),
        ("header", {"cookie": "C"}, None),
        ("header", {"header": "H", "cookie": "C"}, ("header", "H")),
        ("cookie", {"header": "H"}, None),
        ("cookie", {"header": "H", "cookie": "C"}, ("cookie", "C")),
        ("any", {"header": "", "cookie": "C"}, ("cookie", "C")),  # an empty token is none
    ],
)
def test_transfer_method_choice(
    allowed: Any, present: dict[Any, str], expected: tuple[str, str] | None
) -> None:
    assert choose_token(present, allowed) == expected


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        (_jwt(V3_HEADER, V3_PAYLOAD), True),
        (_jwt({**V3_HEADER, "version": "4"}, V3_PAYLOAD), True),
        (_jwt(V2_HEADER, V2_PAYLOAD), True),
        (_jwt(V2_HEADER, V3_PAYLOAD), False),  # v2 needs userData, expiryTime, timeCreated
        (_jwt({**V3_HEADER, "version": "2"}, V3_PAYLOAD), False),  # v2 only as the exact header
        (_jwt({**V3_HEADER, "version": 3}, V3_PAYLOAD), False),  # version must be a string
        (_jwt({**V3_HEADER, "version": "three"}, V3_PAYLOAD), False),
        (_jwt({k: v for k, v in V3_HEADER.items() if k != "kid"}, V3_PAYLOAD), False),
        (_jwt({k: v for k, v in V3_HEADER.items() if k != "typ"}, V3_PAYLOAD), False),
        (_jwt({**V3_HEADER, "typ": "at+jwt"}, V3_PAYLOAD), False),
        (_jwt(V3_HEADER, {**V3_PAYLOAD, "exp": "2"}), False),
        (_jwt(V3_HEADER, {k: v for k, v in V3_PAYLOAD.items() if k != "sessionHandle"}), False),
        (_jwt(V3_HEADER, [1, 2]), False),
        (_jwt([1], V3_PAYLOAD), False),
        ("a.b", False),
        ("!!!.###.sig", False),
        ("", False),
    ],
)
def test_access_token_structure(token: str, expected: bool) -> None:
    assert is_access_token(token) is expected


# -- writing ----------------------------------------------------------------------------


def _cookie(**overrides: Any) -> Cookie:
    values: dict[str, Any] = {
        "name": "sAccessToken",
        "value": "a.b.c",
        "expires_ms": 4_102_444_800_999,  # 2100-01-01T00:00:00.999Z
        "path": "/",
        "domain": None,
        "secure": False,
        "http_only": True,
        "same_site": "lax",
    }
    values.update(overrides)
    return Cookie(**values)


def test_set_cookie_strings() -> None:
    assert (
        _cookie().to_set_cookie()
        == "sAccessToken=a.b.c; Path=/; Expires=Fri, 01 Jan 2100 00:00:00 GMT; HttpOnly;"
        " SameSite=Lax"
    )
    assert (
        _cookie(
            name="sRefreshToken",
            value="x+y/z=",
            path="/auth/session/refresh",
            domain=".example.com",
            secure=True,
            same_site="none",
        ).to_set_cookie()
        == "sRefreshToken=x%2By/z%3D; Path=/auth/session/refresh;"
        " Expires=Fri, 01 Jan 2100 00:00:00 GMT; Domain=.example.com; HttpOnly; Secure;"
        " SameSite=None"
    )
    assert (
        _cookie(value="", expires_ms=0, same_site="strict").to_set_cookie()
        == "sAccessToken=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Strict"
    )


def test_response_changes_later_writes_win_and_expose_headers_accumulate() -> None:
    changes = ResponseChanges()
    changes.set_header("Front-Token", "ft")
    changes.set_header("access-control-expose-headers", "front-token")
    changes.set_header("anti-csrf", "csrf")
    changes.set_header("Access-Control-Expose-Headers", "anti-csrf, FRONT-TOKEN")
    changes.set_cookie(_cookie(value="first"))
    changes.set_cookie(_cookie(name="sRefreshToken", path="/auth/session/refresh"))
    changes.set_cookie(_cookie(value="second"))  # same name, path and domain: replaces
    changes.set_cookie(_cookie(value="other-domain", domain="example.com"))
    changes.remove_header("ANTI-CSRF")
    changes.remove_header("never-set")
    changes.set_header("front-token", "remove")

    assert changes.headers == {
        "front-token": "remove",
        "access-control-expose-headers": "front-token, anti-csrf",
    }
    assert [(c.name, c.value) for c in changes.cookies] == [
        ("sRefreshToken", "a.b.c"),
        ("sAccessToken", "second"),
        ("sAccessToken", "other-domain"),
    ]
    items = changes.header_items()
    assert items[:2] == [
        ("front-token", "remove"),
        ("access-control-expose-headers", "front-token, anti-csrf"),
    ]
    assert [name for name, _ in items[2:]] == ["set-cookie"] * 3
    assert items[3][1].startswith("sAccessToken=second; Path=/;")
