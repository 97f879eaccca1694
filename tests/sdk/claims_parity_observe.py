"""How the claims parity test writes its inputs and reads its observations, shared by the SDK
side (``sdk_claims_driver.py``, which imports this file as a sibling in the SDK's venv) and
the service side (``test_fetched_claims_parity.py``), so both are read the same way. Standard
library only."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterable
from typing import Any, Protocol


class ClaimFailure(Protocol):
    """The SDK's ``ClaimValidationError`` and the Python client's alike."""

    @property
    def id(self) -> str: ...

    @property
    def reason(self) -> dict[str, Any] | None: ...


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def jwt_payload(token: str) -> dict[str, Any]:
    part = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


def materialise(payload: dict[str, Any], start: int) -> dict[str, Any]:
    """A scenario's payload with each ``{"v", "age_ms"}`` claim stored as ``{"v", "t"}``."""
    return {
        key: {"v": item["v"], "t": start - item["age_ms"]} if isinstance(item, dict) else item
        for key, item in payload.items()
    }


def normalise(payload: dict[str, Any], keys: Iterable[str], start: int) -> dict[str, Any]:
    """The claims of a payload (and ``keep``), each as its value and whether it was fetched
    during the scenario (that is, at or after ``start``)."""
    claim_keys = set(keys)
    result: dict[str, Any] = {}
    for key, item in payload.items():
        if key == "keep":
            result[key] = item
        elif key in claim_keys:
            result[key] = {"v": item["v"], "fetched": item["t"] >= start}
    return result


def reasons(errors: Iterable[ClaimFailure]) -> list[Any]:
    """``[id, reason]`` per failure; ``ageInSeconds`` rounded (each side's clock read it at
    its own moment)."""
    result: list[Any] = []
    for error in errors:
        reason = dict(error.reason) if error.reason is not None else None
        if reason is not None and "ageInSeconds" in reason:
            reason["ageInSeconds"] = round(reason["ageInSeconds"])
        result.append([error.id, reason])
    return result
