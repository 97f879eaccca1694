"""Local verification: PyJWT's guarantees and the SDK's parsing rules, on tokens forged with
the real core's own signing key (so only the property under test is wrong)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

import pytest

from session_common.clock import ManualClock
from session_core.app import RunningCore
from session_core.crypto import SigningKey
from session_service.domain.api import SessionRecipe, Status
from session_service.domain.token_parsing import TokenParseError, parse_access_token
from tests.service.domain.domain_helpers import b64url, core_calls, forge, v3_header

PARSE_FAILED = (Status.UNAUTHORISED, "Token parsing failed")


@dataclass
class Forger:
    manager: SessionRecipe
    core: RunningCore
    key: SigningKey
    payload: dict[str, Any]
    now_s: int

    def token(self, header: dict[str, Any] | None = None, **claims: Any) -> str:
        payload = {k: v for k, v in {**self.payload, **claims}.items() if v is not _DROP}
        return forge(self.key, header or v3_header(self.key.kid), payload)

    async def outcome(self, token: str) -> tuple[Status, str]:
        result = await self.manager.get_session(token)
        return result.status, result.message


_DROP = object()


@pytest.fixture
async def forger(
    manager: SessionRecipe, core_node: RunningCore, domain_clock: ManualClock
) -> Forger:
    created = await manager.create_new_session("forged-user", {"custom": 1})
    assert created.session is not None
    # Whole seconds make the iat/exp boundaries exact.
    now_s = domain_clock.now_ms() // 1000 + 1
    domain_clock.set(now_s * 1000)
    payload = dict(created.session.access_token_payload, iat=now_s, exp=now_s + 3600)
    return Forger(manager, core_node, core_node.signing_keys.dynamic_signing_key(), payload, now_s)


async def test_forged_baseline_verifies(forger: Forger) -> None:
    assert await forger.outcome(forger.token()) == (Status.OK, "")


@pytest.mark.parametrize(
    ("header_change", "message"),
    [
        ({"alg": "RS512"}, "The specified alg value is not allowed"),
        ({"alg": "none"}, "The specified alg value is not allowed"),
        ({"alg": "HS256"}, "The specified alg value is not allowed"),
        ({"crit": ["exp"]}, "Unsupported critical extension"),
        ({"b64": False}, "Unsupported critical extension"),
        ({"kid": "d-unknown"}, "No key found for the given kid"),
        # The SDK parses any non-null kid; no key has one that is not a non-empty string.
        ({"kid": 7}, "Invalid token encoding or key id"),
        ({"kid": ""}, "Invalid token encoding or key id"),
    ],
)
async def test_header_checks_at_verification(
    forger: Forger, header_change: dict[str, Any], message: str
) -> None:
    header = {**v3_header(forger.key.kid), **header_change}
    assert await forger.outcome(forger.token(header)) == (Status.TRY_REFRESH_TOKEN, message)
    assert core_calls(forger.core, "/recipe/session/verify") == 0


@pytest.mark.parametrize(
    "header",
    [
        {"alg": "RS256", "typ": "JWT", "version": "2", "kid": "x"},
        {"alg": "RS256", "typ": "JWT", "version": 3, "kid": "x"},
        {"alg": "RS256", "typ": "JWT", "version": "three", "kid": "x"},
        {"alg": "RS256", "typ": "JWT", "kid": "x"},
        {"alg": "RS256", "version": "3", "kid": "x"},
        {"alg": "RS256", "typ": "JWS", "version": "3", "kid": "x"},
        {"alg": "RS256", "typ": "JWT", "version": "3"},
        {"alg": "RS256", "typ": "JWT", "version": "3", "kid": None},
    ],
)
async def test_header_structure_is_a_parse_failure(forger: Forger, header: dict[str, Any]) -> None:
    assert await forger.outcome(forger.token(header)) == PARSE_FAILED


async def test_later_versions_are_accepted(forger: Forger) -> None:
    header = {**v3_header(forger.key.kid), "version": "4"}
    assert await forger.outcome(forger.token(header)) == (Status.OK, "")


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": 1.0e10},
        {"iat": "0"},
        {"sub": 5},
        {"sub": _DROP},
        {"sessionHandle": None},
        {"refreshTokenHash1": _DROP},
    ],
)
async def test_claim_types_are_checked_exactly(forger: Forger, claims: dict[str, Any]) -> None:
    assert await forger.outcome(forger.token(**claims)) == PARSE_FAILED


@pytest.mark.parametrize("claims", [{"exp": True}, {"iat": False}])
async def test_bool_times_parse_like_the_sdk_but_never_verify(
    forger: Forger, claims: dict[str, Any]
) -> None:
    """The SDK's structure check counts bool as int; PyJWT would then read True/False as
    1/0. The service refuses them after the signature check, even when correctly signed."""
    assert await forger.outcome(forger.token(**claims)) == (
        Status.TRY_REFRESH_TOKEN,
        "iat and exp must be integers",
    )


async def test_time_claims_with_zero_leeway(forger: Forger) -> None:
    now = forger.now_s
    immature = (Status.TRY_REFRESH_TOKEN, "The token is not yet valid (iat)")
    assert await forger.outcome(forger.token(iat=now + 1)) == immature
    assert await forger.outcome(forger.token(iat=now)) == (Status.OK, "")
    nbf_immature = (Status.TRY_REFRESH_TOKEN, "The token is not yet valid (nbf)")
    assert await forger.outcome(forger.token(nbf=now + 1)) == nbf_immature
    assert await forger.outcome(forger.token(nbf=now)) == (Status.OK, "")
    bad_nbf = (Status.TRY_REFRESH_TOKEN, "Not Before claim (nbf) must be an integer.")
    assert await forger.outcome(forger.token(nbf="soon")) == bad_nbf
    expired = (Status.TRY_REFRESH_TOKEN, "Signature has expired")
    assert await forger.outcome(forger.token(exp=now)) == expired
    assert await forger.outcome(forger.token(exp=now + 1)) == (Status.OK, "")


async def test_audience_and_jti(forger: Forger) -> None:
    assert await forger.outcome(forger.token(aud="someone")) == (
        Status.TRY_REFRESH_TOKEN,
        "Invalid audience",
    )
    assert await forger.outcome(forger.token(aud=["a"])) == (
        Status.TRY_REFRESH_TOKEN,
        "Invalid audience",
    )
    # PyJWT ignores an empty audience when none is expected.
    assert await forger.outcome(forger.token(aud="")) == (Status.OK, "")
    assert await forger.outcome(forger.token(jti=5)) == (
        Status.TRY_REFRESH_TOKEN,
        "JWT ID must be a string",
    )
    assert await forger.outcome(forger.token(jti="id")) == (Status.OK, "")


async def test_signature_checks(forger: Forger, core_node: RunningCore) -> None:
    static = core_node.signing_keys.static_signing_key()
    # Signed by another real key but claiming the dynamic key's kid.
    wrong_key = forge(static, v3_header(forger.key.kid), forger.payload)
    failed = (Status.TRY_REFRESH_TOKEN, "Signature verification failed")
    assert await forger.outcome(wrong_key) == failed
    header, payload, signature = forger.token().split(".")
    other_payload = b64url(json.dumps({**forger.payload, "custom": 2}).encode())
    assert await forger.outcome(f"{header}.{other_payload}.{signature}") == failed
    assert await forger.outcome(f"{header}.{payload}.") == failed


def _noncanonical(segment: str) -> str:
    """Flip an unused low bit of the last base64url character: same bytes, other text."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    assert len(segment) % 4 in (2, 3)
    index = alphabet.index(segment[-1])
    return segment[:-1] + alphabet[index ^ 1]


async def test_base64url_is_strict(forger: Forger) -> None:
    """Segments that only Python's forgiving base64 reads parse (as in the SDK, which keeps
    the signature raw) but never verify (PyJWT's strict decoding refuses them)."""
    unverifiable = (Status.TRY_REFRESH_TOKEN, "Invalid token encoding or key id")
    header, payload, signature = forger.token().split(".")
    assert len(signature) % 4 == 2  # 256-byte RSA signature
    assert base64.urlsafe_b64decode(_noncanonical(signature) + "==") == base64.urlsafe_b64decode(
        signature + "=="
    )
    assert await forger.outcome(f"{header}.{payload}.{_noncanonical(signature)}") == unverifiable
    # Correct padding is tolerated (as PyJWT does); wrong padding or alphabet is not.
    padded = signature + "=="
    assert await forger.outcome(f"{header}.{payload}.{padded}") == (Status.OK, "")
    assert await forger.outcome(f"{header}.{payload}.{signature}=") == unverifiable
    std_alphabet = payload.replace("-", "+").replace("_", "/")
    if std_alphabet != payload:
        assert await forger.outcome(f"{header}.{std_alphabet}.{signature}") == unverifiable
    assert await forger.outcome(f"{header}.{payload}!.{signature}") == unverifiable
    not_object = b64url(b"[1,2]")
    assert await forger.outcome(f"{header}.{not_object}.{signature}") == PARSE_FAILED
    not_json = b64url(b"{nope")
    assert await forger.outcome(f"{header}.{not_json}.{signature}") == PARSE_FAILED


async def test_size_bound(forger: Forger) -> None:
    token = forger.token(custom="x" * 20_000)
    assert await forger.outcome(token) == PARSE_FAILED
    with pytest.raises(TokenParseError):
        parse_access_token(token, max_length=16_384)
    assert parse_access_token(token, max_length=len(token)).payload["custom"] == "x" * 20_000


async def test_strings_are_trimmed_like_the_sdk(forger: Forger) -> None:
    result = await forger.manager.get_session(forger.token(sub="  padded  "))
    assert result.status is Status.OK and result.session is not None
    assert result.session.user_id == "padded"
