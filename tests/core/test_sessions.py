"""Helpers of ``session_core.sessions``."""

from __future__ import annotations

from session_core.storage.base import storable


def test_storable() -> None:
    assert storable("user", 128)
    assert not storable("x" * 129, 128)
    assert not storable("a\x00b", 128)
    assert not storable("\ud800", 128)
