"""Access tokens (``session_core.access_token``): encoding v3 and the legacy v1/v2 formats,
and parsing that refuses anything that is not a session token of a known shape."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping

import pytest

from session_common.token_format import (
    PROTECTED_PROPS,
    STRUCTURE_CHANGED_MESSAGE,
    V1_HEADER,
    V2_HEADER,
)
from session_core.access_token import (
    INVALID_JWT,
    AccessTokenFormatError,
    AccessTokenInfo,
    encode_access_token,
    parse_access_token,
)
from session_core.crypto import (
    SigningKey,
    b64_decode_any,
    generate_key_string,
    load_signing_key,
    sha256hex,
)
from session_core.errors import ProtectedClaimError


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return load_signing_key("d-1000", generate_key_string(), 1000)


def _info(version: int = 3, **kw: object) -> AccessTokenInfo:
    fields: dict[str, object] = {
        "version": version,
        "session_handle": "handle-1",
        "user_id": "user-1",
        "refresh_token_hash_1": sha256hex("r"),
        "parent_refresh_token_hash_1": None,
        "anti_csrf_token": None,
        "user_data": {"key": "value", "nullProp": None},
        "expiry_ms": 1_700_003_600_000,
        "time_created_ms": 1_700_000_000_000,
    }
    fields.update(kw)
    return AccessTokenInfo(**fields)  # type: ignore[arg-type]


def _segment_json(segment: str) -> dict[str, object]:
    value = json.loads(b64_decode_any(segment))
    assert isinstance(value, dict)
    return value


def test_v3_round_trip_and_exact_shape(key: SigningKey) -> None:
    info = _info(parent_refresh_token_hash_1="p" * 64, anti_csrf_token="csrf")
    encoded = encode_access_token(info, key)
    header_b64, payload_b64, _ = encoded.token.split(".")
    assert "=" not in encoded.token  # base64url without padding
    assert _segment_json(header_b64) == {
        "alg": "RS256",
        "typ": "JWT",
        "version": "3",
        "kid": "d-1000",
    }
    payload = _segment_json(payload_b64)
    assert set(payload) == PROTECTED_PROPS | {"key", "nullProp"}
    assert payload["iat"] == 1_700_000_000 and payload["exp"] == 1_700_003_600
    assert b'"iat":1700000000' in b64_decode_any(payload_b64)  # plain integer, no exponent
    parsed = parse_access_token(encoded.token)
    assert parsed.info == info
    assert parsed.kid == "d-1000"
    assert key.verify(parsed.signature, parsed.signing_input)


def test_v3_times_are_rounded_down_to_seconds(key: SigningKey) -> None:
    encoded = encode_access_token(
        _info(time_created_ms=1_700_000_000_999, expiry_ms=1_700_003_600_999), key
    )
    assert encoded.created_time_ms == 1_700_000_000_000
    assert encoded.expiry_ms == 1_700_003_600_000


def test_nullable_claims_are_present_as_null(key: SigningKey) -> None:
    payload = _segment_json(encode_access_token(_info(), key).token.split(".")[1])
    assert payload["parentRefreshTokenHash1"] is None
    assert payload["antiCsrfToken"] is None


@pytest.mark.parametrize("claim", sorted(PROTECTED_PROPS))
def test_protected_claim_in_user_payload_is_refused(key: SigningKey, claim: str) -> None:
    with pytest.raises(ProtectedClaimError):
        encode_access_token(_info(user_data={claim: "x"}), key)


@pytest.mark.parametrize("version", [1, 2])
def test_legacy_round_trip_uses_standard_base64(key: SigningKey, version: int) -> None:
    info = _info(version=version)
    if version == 1:
        info = _info(version=1, time_created_ms=0)
    token = encode_access_token(info, key).token
    header, payload_b64, signature = token.split(".")
    assert header == (V2_HEADER if version == 2 else V1_HEADER)
    base64.b64decode(payload_b64, validate=True)  # standard alphabet, padded
    base64.b64decode(signature, validate=True)
    parsed = parse_access_token(token)
    assert parsed.info == info
    assert parsed.kid is None
    assert key.verify(parsed.signature, parsed.signing_input)


def test_payload_with_url_safe_characters_is_decoded(key: SigningKey) -> None:
    # '>>>' and '???' give '-'/'_' in base64url, which the SuperTokens core 5.0.0 decoded as
    # standard base64 (a 500; fixed in 6.0.10).
    info = _info(user_data={"x": ">>>???>>>"})
    token = encode_access_token(info, key).token
    assert any(c in token.split(".")[1] for c in "-_")
    assert parse_access_token(token).info == info


@pytest.mark.parametrize(
    "token",
    ["token", "a.b", "a.b.c.d", "...", "e30.e30.", "!!.??.##"],
)
def test_garbage_tokens_are_format_errors(token: str) -> None:
    with pytest.raises(AccessTokenFormatError) as err:
        parse_access_token(token)
    assert str(err.value) == INVALID_JWT


def _forge(header: Mapping[str, object], payload: Mapping[str, object]) -> str:
    def seg(v: Mapping[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(v).encode()).rstrip(b"=").decode()

    return f"{seg(header)}.{seg(payload)}.c2ln"


def test_header_must_be_a_v3_session_header() -> None:
    good: dict[str, object] = {"alg": "RS256", "typ": "JWT", "version": "3", "kid": "d-1"}
    for bad in (
        {**good, "version": 3},
        {**good, "version": "2"},
        {k: v for k, v in good.items() if k != "version"},  # a /recipe/jwt JWT
        {**good, "alg": "HS256"},
        {k: v for k, v in good.items() if k != "kid"},
    ):
        with pytest.raises(AccessTokenFormatError):
            parse_access_token(_forge(bad, {}))


def test_missing_or_mistyped_claims_are_structure_errors(key: SigningKey) -> None:
    header = {"alg": "RS256", "typ": "JWT", "version": "3", "kid": "d-1"}
    full = _segment_json(encode_access_token(_info(), key).token.split(".")[1])
    for claim in sorted(PROTECTED_PROPS):
        with pytest.raises(AccessTokenFormatError) as err:
            parse_access_token(_forge(header, {k: v for k, v in full.items() if k != claim}))
        assert str(err.value) == STRUCTURE_CHANGED_MESSAGE
    for claim, bad in (("iat", 1.5), ("exp", "1"), ("sub", 1), ("exp", True)):
        with pytest.raises(AccessTokenFormatError):
            parse_access_token(_forge(header, {**full, claim: bad}))
