"""Refresh tokens (``session_core.refresh_token``): the encrypted V2 format, its master key,
and every tampered or foreign token refused as unauthorised."""

from __future__ import annotations

import base64

import pytest

from session_core.errors import UnauthorisedError
from session_core.refresh_token import (
    VERSION_NOT_RECOGNISED,
    RefreshTokenCodec,
    RefreshTokenInfo,
    new_master_key,
)


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
