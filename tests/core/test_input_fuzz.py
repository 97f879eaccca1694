"""Bad input on every POST/PUT endpoint: always the 400 the SuperTokens core answers (its
``InputParser`` messages, such as ``Field name 'userId' is invalid in JSON input``), never a
500."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from session_core.http_api import MAX_BODY_DEPTH, TOO_DEEP_MESSAGE
from tests.core.conftest import CoreClient

# (method, path) -> fields in the order the endpoint reads them: (name, kind, required)
ENDPOINTS: dict[tuple[str, str], list[tuple[str, str, bool]]] = {
    ("POST", "/recipe/session"): [
        ("userId", "str", True),
        ("userDataInJWT", "obj", True),
        ("userDataInDatabase", "obj", True),
        ("enableAntiCsrf", "bool", True),
        ("useDynamicSigningKey", "bool", False),
    ],
    ("POST", "/recipe/session/verify"): [
        ("accessToken", "str", True),
        ("antiCsrfToken", "str", False),
        ("doAntiCsrfCheck", "bool", True),
        ("enableAntiCsrf", "bool", True),
        ("checkDatabase", "bool", False),
    ],
    ("POST", "/recipe/session/refresh"): [
        ("refreshToken", "str", True),
        ("antiCsrfToken", "str", False),
        ("enableAntiCsrf", "bool", True),
    ],
    ("PUT", "/recipe/session/data"): [
        ("sessionHandle", "str", True),
        ("userDataInDatabase", "obj", True),
    ],
    ("PUT", "/recipe/jwt/data"): [
        ("sessionHandle", "str", True),
        ("userDataInJWT", "obj", True),
    ],
    ("POST", "/recipe/session/regenerate"): [
        ("accessToken", "str", True),
        ("userDataInJWT", "obj", False),
    ],
    ("POST", "/recipe/jwt"): [
        ("payload", "obj", True),
        ("algorithm", "str", True),
        ("jwksDomain", "str", True),
        ("validity", "long", True),
        ("useStaticSigningKey", "bool", False),
    ],
    ("POST", "/recipe/session/remove"): [],
}
VALID: dict[str, Any] = {"str": "x", "obj": {"k": "v"}, "bool": False, "long": 60}
WRONG: dict[str, list[Any]] = {
    "str": [None, 1, 1.5, True, [], {}, ["x"]],
    "obj": [None, 1, "x", True, [], "{}", [{}]],
    "bool": [None, 1, 0, "true", "false", [], {}],
    "long": [None, "10", True, [], {}, 2**63, 1e300],
}
INVALID_JSON = [
    b"",
    b"   ",
    b"[]",
    b"1",
    b"null",
    b'"text"',
    b"not json",
    b"{",
    b'{"a":1,}',
    b'{"a":NaN}',
    b'{"a":Infinity}',
    b'{"a":-Infinity}',
    b'{"a":1e999}',
    b'{"a":' + b"1" * 5000 + b"}",
    b"\xff\xfe{}",
    b'{"a":"\xc3"}',
]
# Unterminated, and nested far deeper than MAX_BODY_DEPTH: refused for the nesting.
TOO_DEEP = [b"[" * 100_000, b'{"a":' * 50_000]
ALLOWED_400 = {
    "Invalid Json Input",
    TOO_DEEP_MESSAGE,
    "The user payload contains protected field",
    "validity must be greater than or equal to 0",
    "Invalid JSON input - use one of userId or sessionHandles array",
}


async def _send(core: CoreClient, method: str, path: str, content: bytes) -> tuple[int, str]:
    r = await core.http.request(
        method,
        path,
        content=content,
        headers={**core.headers, "content-type": "application/json; charset=utf-8"},
    )
    return r.status_code, r.text


def _valid_body(fields: list[tuple[str, str, bool]]) -> dict[str, Any]:
    return {name: VALID[kind] for name, kind, _ in fields}


@pytest.mark.parametrize(("method", "path"), list(ENDPOINTS))
async def test_bodies_that_are_not_json_objects(core: CoreClient, method: str, path: str) -> None:
    for content in INVALID_JSON:
        assert await _send(core, method, path, content) == (400, "Invalid Json Input\n"), content[
            :20
        ]
    for content in TOO_DEEP:
        assert await _send(core, method, path, content) == (400, TOO_DEEP_MESSAGE + "\n")


@pytest.mark.parametrize(("method", "path"), [e for e in ENDPOINTS if ENDPOINTS[e]])
async def test_each_field_missing_or_of_the_wrong_type(
    core: CoreClient, method: str, path: str
) -> None:
    fields = ENDPOINTS[(method, path)]
    for name, kind, required in fields:
        expected = (400, f"Field name '{name}' is invalid in JSON input\n")
        for wrong in WRONG[kind]:
            body = {**_valid_body(fields), name: wrong}
            assert await _send(core, method, path, json.dumps(body).encode()) == expected, body
        if required:
            body = _valid_body(fields)
            del body[name]
            assert await _send(core, method, path, json.dumps(body).encode()) == expected, body


def _random_json(rng: random.Random, depth: int = 0) -> Any:
    choice = rng.randrange(9 if depth < 3 else 6)
    if choice == 0:
        return None
    if choice == 1:
        return rng.choice([True, False])
    if choice == 2:
        return rng.choice([0, -1, 2**62, 2**64, 1.5, -0.0, 1e308])
    if choice in (3, 4, 5):
        return rng.choice(
            ["", "x", "\x00", "\ud800", "é", "a" * 300, "sub", "V2", "..", "s-1", "eyJ9.e30.e30"]
        )
    if choice in (6, 7):
        return {
            rng.choice(["sub", "k", "", "\x00", "iat", "userId"]): _random_json(rng, depth + 1)
            for _ in range(rng.randrange(3))
        }
    return [_random_json(rng, depth + 1) for _ in range(rng.randrange(3))]


@pytest.mark.parametrize(("method", "path"), list(ENDPOINTS))
async def test_random_bodies_never_give_a_500(core: CoreClient, method: str, path: str) -> None:
    rng = random.Random(f"{method} {path}")
    fields = ENDPOINTS[(method, path)] or [
        ("userId", "str", False),
        ("sessionHandles", "list", False),
    ]
    for _ in range(60):
        body: dict[str, Any] = {}
        for name, kind, _required in fields:
            roll = rng.random()
            if roll < 0.15:
                continue
            if roll < 0.55 and kind in VALID:
                body[name] = VALID[kind]
            else:
                body[name] = _random_json(rng)
        if rng.random() < 0.3:
            body["extra"] = _random_json(rng)
        # ensure_ascii: lone surrogates travel as \\ud800 escapes, as a JSON client may send.
        status, text = await _send(core, method, path, json.dumps(body).encode())
        assert status in (200, 400), (status, text, body)
        if status == 400:
            message = text.removesuffix("\n")
            assert message in ALLOWED_400 or (
                message.startswith("Field name '")
                and message.endswith("' is invalid in JSON input")
            ), (message, body)


async def test_strings_the_database_cannot_hold(core: CoreClient) -> None:
    invalid_user = (400, "Field name 'userId' is invalid in JSON input\n")
    for user_id in ("a\x00b", "\ud800", "u" * 129):
        body = {
            "userId": user_id,
            "userDataInJWT": {},
            "userDataInDatabase": {},
            "enableAntiCsrf": False,
        }
        assert await _send(core, "POST", "/recipe/session", json.dumps(body).encode()) == (
            invalid_user
        )
    assert (await core.create("u" * 128))["status"] == "OK"
    not_found = {"status": "UNAUTHORISED", "message": "Session does not exist."}
    # Raw query strings: a NUL, a UTF-8-encoded surrogate (invalid UTF-8), too long.
    for query in ("a%00b", "%ED%B3%BF", "h" * 300):
        r = await core.http.get(f"/recipe/session?sessionHandle={query}", headers=core.headers)
        assert (r.status_code, r.json()) == (200, not_found)
        r = await core.http.get(f"/recipe/session/user?userId={query}", headers=core.headers)
        assert (r.status_code, r.json()) == (200, {"status": "OK", "sessionHandles": []})
    for handle in ("a\x00b", "\udfff", "h" * 300):
        status, text = await _send(
            core,
            "PUT",
            "/recipe/session/data",
            json.dumps({"sessionHandle": handle, "userDataInDatabase": {}}).encode(),
        )
        assert (status, json.loads(text)) == (200, not_found)
    for user_id in ("a\x00b", "\udfff", "u" * 300):
        status, text = await _send(
            core, "POST", "/recipe/session/remove", json.dumps({"userId": user_id}).encode()
        )
        assert (status, json.loads(text)) == (200, {"status": "OK", "sessionHandlesRevoked": []})
    handles = json.dumps({"sessionHandles": ["\x00", "\udfff", "h" * 300]}).encode()
    status, text = await _send(core, "POST", "/recipe/session/remove", handles)
    assert (status, json.loads(text)) == (200, {"status": "OK", "sessionHandlesRevoked": []})


async def test_payloads_with_odd_strings_round_trip(core: CoreClient) -> None:
    payload = {"nul": "a\x00b", "lone": "\ud800", "é": "ü", "big": 2**70, "neg0": -0.0}
    body = {
        "userId": "odd",
        "userDataInJWT": payload,
        "userDataInDatabase": payload,
        "enableAntiCsrf": False,
    }
    status, text = await _send(core, "POST", "/recipe/session", json.dumps(body).encode())
    assert status == 200, text
    created = json.loads(text)
    info = await core.ok("GET", "/recipe/session", {"sessionHandle": created["session"]["handle"]})
    assert info["userDataInJWT"] == payload and info["userDataInDatabase"] == payload
    verified = await core.verify(created["accessToken"]["token"])
    assert verified["session"]["userDataInJWT"] == payload


def _nested(depth: int, leaf: Any = "leaf") -> Any:
    """A JSON value of ``depth`` nested containers, alternating objects and arrays."""
    value: Any = leaf
    for level in range(depth):
        value = {"k": value} if level % 2 else [value]
    return value


async def test_nesting_is_refused_past_the_limit_and_never_a_500(core: CoreClient) -> None:
    """Bodies nesting up to MAX_BODY_DEPTH are served on every endpoint that stores or
    compares them (checkDatabase compares a deep stored payload with the token's); deeper
    ones are a 400 naming the limit, however deep (json's own recursion limit included)."""
    limit = MAX_BODY_DEPTH
    # The body object is one level: its deepest field may nest limit - 1 levels.
    deepest = {"deep": _nested(limit - 2)}
    created = await core.create("deep", jwt=deepest, db=deepest)
    handle = created["session"]["handle"]
    token = created["accessToken"]["token"]
    # A payload differing only in its deepest value makes checkDatabase compare all of it.
    other = {"deep": _nested(limit - 2, leaf="other")}
    await core.ok("PUT", "/recipe/jwt/data", {"sessionHandle": handle, "userDataInJWT": other})
    verified = await core.verify(token, check_database=True)
    assert verified["session"]["userDataInJWT"] == other
    info = await core.ok("GET", "/recipe/session", {"sessionHandle": handle})
    assert info["userDataInDatabase"] == deepest
    refused = (400, f"JSON input nests deeper than {limit} levels\n")
    assert refused[1] == TOO_DEEP_MESSAGE + "\n"
    for depth in (limit + 1, limit + 2, 900, 990):
        # Written as text: json.dumps itself would recurse too deep.
        deep = b"[" * (depth - 1) + b"1" + b"]" * (depth - 1)
        body = b'{"userId":"deep","userDataInJWT":{"d":%s},"userDataInDatabase":{},' % deep
        body += b'"enableAntiCsrf":false}'
        assert await _send(core, "POST", "/recipe/session", body) == refused, depth
        update = b'{"sessionHandle":"%s","userDataInJWT":{"d":%s}}' % (handle.encode(), deep)
        assert await _send(core, "PUT", "/recipe/jwt/data", update) == refused, depth
    # Deeper than Python's json can parse: the same 400.
    flood = b'{"userId":"x","userDataInJWT":' + b"[" * 5000 + b"]" * 5000 + b"}"
    assert await _send(core, "POST", "/recipe/session", flood) == refused
    assert (await core.verify(token, check_database=True))["status"] == "OK"
