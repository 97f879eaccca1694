"""The rules every endpoint shares: routing, 404/405, /hello, /apiversion, cdi-version, api keys,
base_path, reply encoding, request logging."""

from __future__ import annotations

import logging

import httpx
import pytest

from tests.core.conftest import CoreClient, CoreFactory

KEY_A = "aaaaaaaaaaaaaaaaaaaaaaaa-1"
KEY_B = "bbbbbbbbbbbbbbbbbbbb=="
TEXT = "text/html; charset=UTF-8"


def _text(r: httpx.Response, status: int, body: str) -> None:
    assert (r.status_code, r.text, r.headers["content-type"]) == (status, body, TEXT)


async def test_unknown_paths_are_404(core: CoreClient) -> None:
    for method, path in (
        ("GET", "/nope"),
        ("POST", "/recipe/handshake"),
        ("POST", "/recipe/session/verify/extra"),
        ("POST", "/recipe/session/"),
        ("DELETE", "/recipe"),
    ):
        _text(await core.http.request(method, path, headers=core.headers), 404, "Not found\n")


async def test_known_path_with_wrong_method_is_405(core: CoreClient) -> None:
    for method, path in (
        ("DELETE", "/recipe/session"),
        ("GET", "/recipe/session/verify"),
        ("PUT", "/recipe/session/refresh"),
        ("POST", "/recipe/session/user"),
        ("POST", "/recipe/session/data"),
        ("PUT", "/apiversion"),
        ("POST", "/.well-known/jwks.json"),
        ("PATCH", "/hello"),
    ):
        r = await core.http.request(method, path, headers=core.headers)
        _text(r, 405, "Method not supported\n")
    head = await core.http.head("/recipe/session", headers=core.headers)
    assert head.status_code == 405


async def test_hello_on_every_method_and_root(core: CoreClient) -> None:
    for method in ("GET", "POST", "PUT", "DELETE"):
        for path in ("/hello", "/"):
            _text(await core.http.request(method, path), 200, "Hello\n")


async def test_apiversion(core: CoreClient) -> None:
    r = await core.http.get("/apiversion", headers={"cdi-version": "1.0"})  # not checked
    assert r.status_code == 200
    assert r.json() == {"versions": ["2.21"]}
    for version in r.json()["versions"]:
        major, minor = version.split(".")
        assert major.isdigit() and minor.isdigit()


@pytest.mark.parametrize(
    ("header", "status"),
    [(None, 200), ("2.21", 200), ("2.7", 400), ("3.0", 400), ("2.21.1", 400)],
)
async def test_cdi_version(core: CoreClient, header: str | None, status: int) -> None:
    headers = {} if header is None else {"cdi-version": header}
    r = await core.http.get("/recipe/session/user", params={"userId": "u"}, headers=headers)
    assert r.status_code == status
    if status == 400:
        assert r.text == f"cdi-version {header} not supported\n"


@pytest.mark.parametrize("header", ["abc", "2.x", "", "2..21", "latest"])
async def test_malformed_cdi_version_is_400_not_500(core: CoreClient, header: str) -> None:
    # The reference core answers 500 for a version that is not X.Y; this core never does.
    r = await core.http.get(
        "/recipe/session/user", params={"userId": "u"}, headers={"cdi-version": header}
    )
    _text(r, 400, f"cdi-version {header} not supported\n")


async def test_api_keys(make_core: CoreFactory) -> None:
    core = await make_core(api_keys=(KEY_A, KEY_B))
    path, params = "/recipe/session/user", {"userId": "u"}
    for headers in ({}, {"api-key": "wrong-wrong-wrong-wrong"}, {"api-key": KEY_A + "x"}):
        r = await core.http.get(path, params=params, headers={**core.headers, **headers})
        _text(r, 401, "Invalid API key\n")
    for key in (KEY_A, KEY_B):
        r = await core.http.get(path, params=params, headers={**core.headers, "api-key": key})
        assert r.status_code == 200
    # The key is checked before the version.
    r = await core.http.get(path, params=params, headers={"cdi-version": "9.9"})
    _text(r, 401, "Invalid API key\n")
    r = await core.http.get(path, params=params, headers={"cdi-version": "9.9", "api-key": KEY_B})
    _text(r, 400, "cdi-version 9.9 not supported\n")
    # Open endpoints and endpoints that need the key.
    assert (await core.http.get("/.well-known/jwks.json")).status_code == 200
    assert (await core.http.get("/hello")).status_code == 200
    assert (await core.http.get("/apiversion")).status_code == 401
    assert (await core.http.get("/apiversion", headers={"api-key": KEY_A})).status_code == 200
    assert (await core.http.get("/recipe/jwt/jwks")).status_code == 401
    r = await core.http.post(
        "/recipe/session",
        json={
            "userId": "u",
            "userDataInJWT": {},
            "userDataInDatabase": {},
            "enableAntiCsrf": False,
        },
    )
    _text(r, 401, "Invalid API key\n")


async def test_a_wrong_method_is_405_before_the_api_key_check(make_core: CoreFactory) -> None:
    # The reference checks the key (401) before it dispatches on the method
    # (docs/differences.md): which methods a path has is public, so this core answers first.
    core = await make_core(api_keys=(KEY_A,))
    _text(await core.http.delete("/recipe/session"), 405, "Method not supported\n")
    _text(await core.http.get("/recipe/session/verify"), 405, "Method not supported\n")
    _text(await core.http.post("/recipe/session/verify", json={}), 401, "Invalid API key\n")


async def test_a_body_over_10_mib_is_413(core: CoreClient) -> None:
    oversized = b"{" + b" " * (10 * 1024 * 1024) + b"}"
    r = await core.http.post("/recipe/session", content=oversized, headers=core.headers)
    assert r.status_code == 413


async def test_base_path(make_core: CoreFactory) -> None:
    core = await make_core(base_path="/core/v1")
    assert core.url.endswith("/core/v1")
    created = await core.create()  # relative to the base URL
    assert created["status"] == "OK"
    root = httpx.AsyncClient(base_url=core.url.removesuffix("/core/v1"))
    try:
        _text(await root.get("/hello"), 404, "Not found\n")
        _text(await root.get("/core/v1"), 200, "Hello\n")
        _text(await root.get("/core/v1/hello"), 200, "Hello\n")
        _text(await root.get("/core/v1x/hello"), 404, "Not found\n")
        assert (await root.get("/core/v1/.well-known/jwks.json")).status_code == 200
        r = await root.post("/recipe/session/verify", json={})
        _text(r, 404, "Not found\n")
    finally:
        await root.aclose()


async def test_json_reply_encoding(core: CoreClient) -> None:
    r = await core.http.get("/recipe/session/user", params={"userId": "u"}, headers=core.headers)
    assert r.headers["content-type"] == "application/json; charset=UTF-8"
    assert r.content == b'{"status":"OK","sessionHandles":[]}\n'


async def test_one_debug_line_per_request_without_secrets(
    make_core: CoreFactory, caplog: pytest.LogCaptureFixture
) -> None:
    core = await make_core(api_keys=(KEY_A,))
    core.headers["api-key"] = KEY_A
    with caplog.at_level(logging.DEBUG, logger="session_core"):
        created = await core.create(anti_csrf=True)
        refreshed = await core.refresh(
            created["refreshToken"]["token"], anti_csrf=True, csrf_token=created["antiCsrfToken"]
        )
        await core.verify(refreshed["accessToken"]["token"])
    request_lines = [r.getMessage() for r in caplog.records if r.name == "session_core.http_api"]
    assert len(request_lines) == 3
    assert request_lines[0].startswith("POST /recipe/session -> 200 (")
    assert request_lines[1].startswith("POST /recipe/session/refresh -> 200 (")
    everything = caplog.text
    for secret in (
        KEY_A,
        created["antiCsrfToken"],
        created["refreshToken"]["token"],
        created["accessToken"]["token"],
        refreshed["refreshToken"]["token"],
        refreshed["accessToken"]["token"],
    ):
        assert secret not in everything
