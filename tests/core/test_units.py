"""Pure modules: codecs, config loading, helpers. No database, no sockets."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from session_common.clock import ManualClock
from session_common.json_values import json_depth, json_equal
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
from session_core.config import CoreConfig, load_config
from session_core.crypto import (
    SigningKey,
    b64_decode_any,
    generate_key_string,
    load_signing_key,
    sha256hex,
)
from session_core.errors import ConfigError, ProtectedClaimError, UnauthorisedError
from session_core.refresh_token import (
    VERSION_NOT_RECOGNISED,
    RefreshTokenCodec,
    RefreshTokenInfo,
    new_master_key,
)
from session_core.sessions import storable


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


# -- access tokens ---------------------------------------------------------------------------


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
    # '>>>' and '???' give '-'/'_' in base64url: the 5.0.0 standard-Base64 bug (§3.5).
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


def test_b64_decode_accepts_both_alphabets_and_optional_padding() -> None:
    raw = bytes(range(256))
    for text in (
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
    ):
        assert b64_decode_any(text) == raw
    for bad in ("a", "ab$c", "a=b", "ab==="):
        with pytest.raises(ValueError):
            b64_decode_any(bad)


# -- refresh tokens --------------------------------------------------------------------------


def test_refresh_token_round_trip_and_format() -> None:
    codec = RefreshTokenCodec(new_master_key())
    info = RefreshTokenInfo("h", "u", "p" * 64, "csrf")
    token = codec.create(info)
    encrypted, nonce, suffix = token.split(".")
    assert suffix == "V2"
    assert len(nonce) == 64 and int(nonce, 16) >= 0
    base64.b64decode(encrypted, validate=True)
    assert codec.parse(token) == info
    assert codec.create(info) != token  # random IV and nonce
    assert codec.parse(token[:-2] + "v2") == info  # the suffix is case-insensitive


def test_refresh_token_without_optional_fields() -> None:
    codec = RefreshTokenCodec(new_master_key())
    info = RefreshTokenInfo("h", "u", None, None)
    assert codec.parse(codec.create(info)) == info


def test_refresh_token_under_another_master_key_is_unauthorised() -> None:
    token = RefreshTokenCodec(new_master_key()).create(RefreshTokenInfo("h", "u", None, None))
    with pytest.raises(UnauthorisedError):
        RefreshTokenCodec(new_master_key()).parse(token)


def test_refresh_token_tampering_is_unauthorised() -> None:
    codec = RefreshTokenCodec(new_master_key())
    token = codec.create(RefreshTokenInfo("h", "u", None, None))
    encrypted, nonce, _ = token.split(".")
    with pytest.raises(UnauthorisedError) as err:
        codec.parse(token + "garbage")
    assert err.value.message == VERSION_NOT_RECOGNISED
    for bad in (
        "garbage" + token,
        f"{encrypted}.{'0' * 64}.V2",  # the nonce must match the encrypted one
        f"{encrypted}.{nonce}.V1",
        f"x.{token}",
        f"{encrypted[:-8]}AAAAAAA=.{nonce}.V2",
        "",
    ):
        with pytest.raises(UnauthorisedError):
            codec.parse(bad)


def test_master_key_format() -> None:
    iterations, salt, derived = new_master_key().split(":")
    assert iterations == "1000" and len(salt) == 128 and len(derived) == 128


# -- config ----------------------------------------------------------------------------------


def test_defaults() -> None:
    c = load_config(env={})
    assert (c.host, c.port) == ("localhost", 3567)
    assert c.access_token_validity == 3600
    assert c.refresh_token_validity == 144000.0
    assert c.access_token_dynamic_signing_key_update_interval == 168.0
    assert c.api_keys == () and c.base_path == ""
    assert c.dynamic_signing_key_overlap_ms == 60_000
    assert c.expired_session_cleanup_interval_s == 43_200
    assert c.database == f"sqlite:///{Path('.data').resolve() / 'core.db'}"
    assert c.dynamic_key_lifetime_ms == (168 * 3600 + 2 * 3600) * 1000


def test_data_dir_sets_the_default_database(tmp_path: Path) -> None:
    expected = f"sqlite:///{tmp_path / 'core.db'}"
    assert load_config(env={"SESSION_CORE_DATA_DIR": str(tmp_path)}).database == expected
    assert load_config(flags={"data_dir": str(tmp_path)}, env={}).database == expected
    assert CoreConfig(data_dir=tmp_path).database == expected
    # An explicit database wins over the data directory.
    other = f"sqlite:///{tmp_path / 'other.db'}"
    config = load_config(flags={"database": other}, env={"SESSION_CORE_DATA_DIR": "/x"})
    assert config.database == other


def test_precedence_flag_env_file(tmp_path: Path) -> None:
    cfg = tmp_path / "core.json"
    cfg.write_text(json.dumps({"access_token_validity": 100, "port": 1111, "host": "file"}))
    env = {"SESSION_CORE_ACCESS_TOKEN_VALIDITY": "200", "SESSION_CORE_PORT": "2222"}
    c = load_config(flags={"access_token_validity": "300"}, env=env, config_file=cfg)
    assert (c.access_token_validity, c.port, c.host) == (300, 2222, "file")
    c = load_config(flags={"access_token_validity": None}, env=env, config_file=cfg)
    assert c.access_token_validity == 200


def test_toml_file_alias_and_api_keys(tmp_path: Path) -> None:
    cfg = tmp_path / "core.toml"
    cfg.write_text(
        "access_token_signing_key_update_interval = 2.5\n"
        'api_keys = " aaaaaaaaaaaaaaaaaaaa1 , bbbbbbbbbbbbbbbbbbbb=-2"\n'
        'base_path = "core/v1/"\n'
    )
    c = load_config(env={}, config_file=cfg)
    assert c.access_token_dynamic_signing_key_update_interval == 2.5
    assert c.api_keys == ("aaaaaaaaaaaaaaaaaaaa1", "bbbbbbbbbbbbbbbbbbbb=-2")
    assert c.base_path == "/core/v1"


@pytest.mark.parametrize(
    ("settings", "fragment"),
    [
        ({"access_token_validity": "0"}, "access_token_validity"),
        ({"access_token_validity": "86400001"}, "access_token_validity"),
        ({"access_token_validity": "1.5"}, "access_token_validity"),
        (
            {"refresh_token_validity": "60", "access_token_validity": "3600"},
            "refresh_token_validity",
        ),
        ({"access_token_dynamic_signing_key_update_interval": "0.5"}, "update_interval"),
        ({"api_keys": "short"}, "api_keys"),
        ({"api_keys": "has_underscores_but_it_is_long"}, "api_keys"),
        ({"api_keys": "aaaaaaaaaaaaaaaaaaaa!!"}, "api_keys"),
        ({"port": "70000"}, "port"),
        ({"port": "http"}, "port"),
        ({"log_level": "loud"}, "log_level"),
        ({"base_path": "/a b"}, "base_path"),
        ({"refresh_token_validity": "nan"}, "refresh_token_validity"),
        ({"no_such_setting": "1"}, "no_such_setting"),
    ],
)
def test_invalid_settings_are_clear_errors(settings: dict[str, str], fragment: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(flags=settings, env={})
    assert fragment in str(err.value)


@pytest.mark.parametrize("blank", ["", " ", " , "])
def test_empty_api_keys_are_an_error_not_no_keys(tmp_path: Path, blank: str) -> None:
    cfg = tmp_path / "core.json"
    cfg.write_text(json.dumps({"api_keys": blank}))
    for source in (
        {"flags": {"api_keys": blank}, "env": {}},
        {"env": {"SESSION_CORE_API_KEYS": blank}},
        {"env": {}, "config_file": cfg},
    ):
        with pytest.raises(ConfigError, match="'api_keys' is empty"):
            load_config(**source)


def test_api_keys_with_whitespace_inside_are_stripped() -> None:
    # SuperTokens removes all whitespace from the list (§8).
    c = load_config(flags={"api_keys": "aaaaaaaaaa aaaaaaaaaa"}, env={})
    assert c.api_keys == ("aaaaaaaaaaaaaaaaaaaa",)


def test_bad_config_file(tmp_path: Path) -> None:
    cfg = tmp_path / "core.json"
    cfg.write_text("{not json")
    with pytest.raises(ConfigError):
        load_config(env={}, config_file=cfg)
    with pytest.raises(ConfigError):
        load_config(env={}, config_file=tmp_path / "missing.json")


# -- helpers -----------------------------------------------------------------------------------


def test_json_equal_tells_booleans_from_numbers() -> None:
    assert json_equal({"a": [1, {"b": None}]}, {"a": [1.0, {"b": None}]})
    assert not json_equal({"a": True}, {"a": 1})
    assert not json_equal({"a": 1}, {"a": 1, "b": 2})
    assert not json_equal([1, 2], [2, 1])
    assert not json_equal({"a": "1"}, {"a": 1})


def test_storable() -> None:
    assert storable("user", 128)
    assert not storable("x" * 129, 128)
    assert not storable("a\x00b", 128)
    assert not storable("\ud800", 128)


def test_manual_clock_only_moves_forward() -> None:
    clock = ManualClock(1000)
    clock.advance(500)
    assert clock.now_ms() == 1500
    with pytest.raises(ValueError):
        clock.advance(-1)


def test_json_equal_compares_any_depth_without_recursing() -> None:
    deep_a: Any = 1
    deep_b: Any = 1
    for _ in range(50_000):
        deep_a, deep_b = [deep_a], [deep_b]
    assert json_equal(deep_a, deep_b)
    assert not json_equal([deep_a, True], [deep_b, 1])


def test_json_depth_counts_nested_objects_and_arrays() -> None:
    values: list[Any] = [1, "x", None, {}, [], {"a": 1}, [[]], {"a": [{}]}]
    assert [json_depth(v) for v in values] == [0, 0, 0, 1, 1, 1, 2, 3]
    deep: Any = {}
    for _ in range(50_000):
        deep = {"k": [deep]}
    assert json_depth(deep) == 100_001
