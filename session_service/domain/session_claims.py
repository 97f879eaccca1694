"""Session claims as supertokens-python 0.14.0 has them: values the service fetches.

A claim is a key in the access-token payload plus a ``fetch_value(user_id, user_context)``
that reads its current value from wherever it lives (a database, another service). The
service refetches it when a validator needs it, exactly when the SDK would, and merges the
new value into the session's payload. Operators define claims in a Python module named by
``--claims-module`` (``docs/claims.md``)::

    from session_service.domain.session_claims import BooleanClaim, PrimitiveArrayClaim

    async def fetch_roles(user_id, user_context):
        return await my_db.roles_of(user_id)

    claims = [PrimitiveArrayClaim("roles", fetch_roles, default_max_age_in_sec=300)]

The three kinds are the SDK's ``PrimitiveClaim``, ``BooleanClaim`` and ``PrimitiveArrayClaim``
(``recipe/session/claim_base_classes``), with the same storage: ``payload[key] =
{"v": value, "t": ms}``, where ``t`` is when the value was fetched (the service's clock).
Requests name the checks as declarative validators (``ClaimValidatorSpec``): ``has_value`` for
primitive and boolean claims; ``includes``, ``excludes``, ``includes_all`` and ``excludes_all``
for primitive-array claims, as the SDK's ``claim.validators`` offer them.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import json
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from enum import StrEnum
from typing import Any

from session_common.json_values import JSONObject
from session_common.token_format import PROTECTED_PROPS
from session_service.domain.errors import DomainError, InvalidArgument
from session_service.domain.types import ClaimValidatorKind, ClaimValidatorSpec

# The value, or an awaitable of it (the SDK's MaybeAwaitable); None means "nothing to set".
FetchValue = Callable[[str, JSONObject], Any | Awaitable[Any]]

DEFAULT_ATTRIBUTE = "claims"


class ClaimKind(StrEnum):
    """What a claim's value is, which decides the validators it has."""

    PRIMITIVE = "primitive"
    BOOLEAN = "boolean"
    PRIMITIVE_ARRAY = "primitive array"


_VALIDATORS_OF = {
    ClaimKind.PRIMITIVE: (ClaimValidatorKind.HAS_VALUE,),
    ClaimKind.BOOLEAN: (ClaimValidatorKind.HAS_VALUE,),
    ClaimKind.PRIMITIVE_ARRAY: (
        ClaimValidatorKind.INCLUDES,
        ClaimValidatorKind.EXCLUDES,
        ClaimValidatorKind.INCLUDES_ALL,
        ClaimValidatorKind.EXCLUDES_ALL,
    ),
}


def _system_now_ms() -> int:
    return time.time_ns() // 1_000_000


class ClaimFetchFailed(DomainError):
    """A claim's ``fetch_value`` raised, or returned something that is not JSON, or values
    the session cannot carry (``SessionRecipe`` checks them against the service's limits
    before storing them). The original exception, if any, is the ``__cause__``; the message
    names the claims and the exception type only (its text could carry secrets of the
    claim's data source)."""

    def __init__(self, keys: str | Sequence[str], problem: str) -> None:
        self.keys = (keys,) if isinstance(keys, str) else tuple(keys)
        names = " and ".join(repr(key) for key in self.keys)
        noun = "claim" if len(self.keys) == 1 else "claims"
        super().__init__(f"fetch_value of {noun} {names} {problem}")


class SessionClaim:
    """The SDK's ``SessionClaim`` with ``{v, t}`` storage (its ``PrimitiveClaim`` and
    ``PrimitiveArrayClaim`` store alike). Use one of the subclasses.

    ``now_ms`` is the clock of the ``t`` it writes: the system clock until the service
    loads the claim, which sets it to the service's own clock.
    """

    kind: ClaimKind

    def __init__(
        self, key: str, fetch_value: FetchValue, default_max_age_in_sec: int | None = None
    ) -> None:
        self.key = key
        self.fetch_value = fetch_value
        self.default_max_age_in_sec = default_max_age_in_sec
        self.now_ms: Callable[[], int] = _system_now_ms

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.key!r})"

    async def build(self, user_id: str, user_context: JSONObject | None = None) -> JSONObject:
        """SDK ``SessionClaim.build``: the payload update for the user's current value:
        ``{}`` when ``fetch_value`` gives None, else ``{key: {"v": value, "t": now}}``."""
        context = {} if user_context is None else user_context
        value = await fetch_claim_value(self, user_id, context)
        if value is None:
            return {}
        return self.add_to_payload_({}, value, context)

    def add_to_payload_(
        self, payload: JSONObject, value: Any, user_context: JSONObject | None = None
    ) -> JSONObject:
        """SDK ``add_to_payload_``: set ``payload[key] = {"v": value, "t": now_ms}`` in place
        and return ``payload``."""
        payload[self.key] = {"v": value, "t": self.now_ms()}
        return payload

    def remove_from_payload_by_merge_(
        self, payload: JSONObject, user_context: JSONObject | None = None
    ) -> JSONObject:
        """SDK ``remove_from_payload_by_merge_``: ``payload[key] = None`` (a merge then
        deletes the key)."""
        payload[self.key] = None
        return payload

    def remove_from_payload(
        self, payload: JSONObject, user_context: JSONObject | None = None
    ) -> JSONObject:
        """SDK ``remove_from_payload``: delete the key in place."""
        payload.pop(self.key, None)
        return payload

    def get_value_from_payload(
        self, payload: JSONObject, user_context: JSONObject | None = None
    ) -> Any:
        """SDK ``get_value_from_payload``: ``payload[key]["v"]``, None when absent. (A stored
        value that is not an object also reads as None, where the SDK raises.)"""
        stored = payload.get(self.key)
        return stored.get("v") if isinstance(stored, dict) else None

    def get_last_refetch_time(
        self, payload: JSONObject, user_context: JSONObject | None = None
    ) -> int | float | None:
        """SDK ``get_last_refetch_time``: ``payload[key]["t"]`` (epoch ms), None when absent
        or not a number."""
        stored = payload.get(self.key)
        t = stored.get("t") if isinstance(stored, dict) else None
        if isinstance(t, bool) or not isinstance(t, int | float):
            return None
        return t


class PrimitiveClaim(SessionClaim):
    """SDK ``PrimitiveClaim``: one JSON value; validated with ``has_value``."""

    kind = ClaimKind.PRIMITIVE


class BooleanClaim(PrimitiveClaim):
    """SDK ``BooleanClaim``: true or false; ``has_value`` with true or false is the SDK's
    ``is_true`` / ``is_false``."""

    kind = ClaimKind.BOOLEAN


class PrimitiveArrayClaim(SessionClaim):
    """SDK ``PrimitiveArrayClaim``: a list of JSON values; validated with ``includes``,
    ``excludes``, ``includes_all`` and ``excludes_all``."""

    kind = ClaimKind.PRIMITIVE_ARRAY


async def fetch_claim_value(claim: SessionClaim, user_id: str, user_context: JSONObject) -> Any:
    """``claim.fetch_value(user_id, user_context)``, awaited when it returns an awaitable.
    Raises ``ClaimFetchFailed`` when it raises or its value is not JSON."""
    try:
        value = claim.fetch_value(user_id, user_context)
        if inspect.isawaitable(value):
            value = await value
    except Exception as exc:
        raise ClaimFetchFailed(claim.key, f"raised {type(exc).__name__}") from exc
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise ClaimFetchFailed(
            claim.key, f"returned a value that is not JSON ({type(value).__name__})"
        ) from exc
    return value


def should_refetch(
    claim: SessionClaim, payload: JSONObject, max_age_in_sec: int | None, now_ms: int
) -> bool:
    """The SDK validators' ``should_refetch`` (``HasValueSCV``, the array validators'
    ``SCVMixin``): the value is missing, or ``max_age_in_sec`` is set and the value was
    fetched more than that long ago (``t < now - max_age * 1000``). A stored value without a
    usable ``t`` is refetched (the SDK raises there)."""
    if claim.get_value_from_payload(payload) is None:
        return True
    if max_age_in_sec is None:
        return False
    fetched_at = claim.get_last_refetch_time(payload)
    return fetched_at is None or fetched_at < now_ms - max_age_in_sec * 1000


class ClaimsModuleError(ValueError):
    """The claims module cannot be used; the message says why."""


class ClaimRegistry:
    """The claims the service can fetch, by key."""

    def __init__(self, claims: Iterable[SessionClaim]) -> None:
        self._by_key = {claim.key: claim for claim in claims}

    def use_clock(self, now_ms: Callable[[], int]) -> None:
        """Put every claim on this clock (the ``t`` it writes)."""
        for claim in self._by_key.values():
            claim.now_ms = now_ms

    def __bool__(self) -> bool:
        return bool(self._by_key)

    def get(self, key: str) -> SessionClaim | None:
        return self._by_key.get(key)

    def bind(
        self, specs: Sequence[ClaimValidatorSpec], field: str
    ) -> tuple[ClaimValidatorSpec, ...]:
        """``specs`` as the validators of the claims they name: each gets its claim's
        ``default_max_age_in_sec`` when it sets no max age of its own (the SDK's ``max_age
        or default``), and must be one of that claim kind's validators. A spec whose key
        names no claim is returned as it is (it only reads the payload)."""
        if not self._by_key:
            return tuple(specs)
        return tuple(
            _bound(spec, self._by_key.get(spec.key), f"{field}[{index}]")
            for index, spec in enumerate(specs)
        )


def _bound(spec: ClaimValidatorSpec, claim: SessionClaim | None, where: str) -> ClaimValidatorSpec:
    if claim is None:
        return spec
    if spec.kind not in _VALIDATORS_OF[claim.kind]:
        names = ", ".join(kind.value for kind in _VALIDATORS_OF[claim.kind])
        raise InvalidArgument(
            where,
            f"{spec.kind.value} does not apply to {claim.kind.value} claim {claim.key!r} "
            f"(its validators: {names})",
        )
    if spec.max_age_seconds or claim.default_max_age_in_sec is None:
        return spec
    return dataclasses.replace(spec, max_age_seconds=claim.default_max_age_in_sec)


def check_claim_definitions(claims: object, where: str) -> tuple[SessionClaim, ...]:
    """The claims a claims module defines, checked: instances of the claim classes, each
    with a non-empty, unprotected, unique key, a callable ``fetch_value`` and a default
    max age that is None or a positive integer. (The SDK also takes 0 or less, which makes
    every request fetch the value and then, as soon as a millisecond has passed, find it
    expired.)"""
    if isinstance(claims, str | bytes | Mapping) or not isinstance(claims, Iterable):
        raise ClaimsModuleError(f"{where} must be a list of claims")
    checked: list[SessionClaim] = []
    keys: set[str] = set()
    for index, claim in enumerate(claims):
        item = f"{where}[{index}]"
        if not isinstance(claim, PrimitiveClaim | PrimitiveArrayClaim):
            raise ClaimsModuleError(
                f"{item} is a {type(claim).__name__}, not a PrimitiveClaim, BooleanClaim "
                "or PrimitiveArrayClaim"
            )
        if not isinstance(claim.key, str) or not claim.key:
            raise ClaimsModuleError(f"{item} needs a non-empty string key")
        if claim.key in PROTECTED_PROPS:
            raise ClaimsModuleError(f"{item}: {claim.key!r} is a protected claim of the token")
        if claim.key in keys:
            raise ClaimsModuleError(f"{item}: the key {claim.key!r} is defined twice")
        if not callable(claim.fetch_value):
            raise ClaimsModuleError(f"{item}: fetch_value of {claim.key!r} is not callable")
        max_age = claim.default_max_age_in_sec
        if max_age is not None and (
            isinstance(max_age, bool) or not isinstance(max_age, int) or max_age <= 0
        ):
            raise ClaimsModuleError(
                f"{item}: default_max_age_in_sec of {claim.key!r} must be a positive integer "
                "or None"
            )
        keys.add(claim.key)
        checked.append(claim)
    return tuple(checked)


def load_claims(spec: str) -> tuple[SessionClaim, ...]:
    """Import ``module`` or ``module:attribute`` (default attribute ``claims``): a list of
    claims, or a function without arguments that returns one."""
    module_name, _, attribute = spec.strip().partition(":")
    attribute = attribute or DEFAULT_ATTRIBUTE
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # the module's own code may raise anything while importing
        raise ClaimsModuleError(
            f"cannot import claims module {module_name!r}: {_one_line(exc)}"
        ) from None
    if not hasattr(module, attribute):
        raise ClaimsModuleError(f"claims module {module_name!r} has no {attribute!r}")
    claims = getattr(module, attribute)
    if callable(claims):
        try:
            claims = claims()
        except Exception as exc:
            raise ClaimsModuleError(
                f"{module_name}.{attribute}() raised {_one_line(exc)}"
            ) from None
    return check_claim_definitions(claims, f"{module_name}.{attribute}")


def _one_line(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
