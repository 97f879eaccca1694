"""``session_common.clock``: the manual clock tests drive."""

from __future__ import annotations

import pytest

from session_common.clock import ManualClock


def test_manual_clock_only_moves_forward() -> None:
    clock = ManualClock(1000)
    clock.advance(500)
    assert clock.now_ms() == 1500
    with pytest.raises(ValueError):
        clock.advance(-1)
