"""Codecs of ``session_core.crypto``."""

from __future__ import annotations

import base64

import pytest

from session_core.crypto import b64_decode_any


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
