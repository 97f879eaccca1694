"""Claim classes as the SDK has them (``build``, ``add_to_payload_``,
``get_value_from_payload``, ``get_last_refetch_time``, the ``{v, t}`` form), the refetch
rule, binding validators to claims, loading a claims module, and the manager's
``validate_claims`` (the SDK's recipe function that fetches)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from session_common.clock import ManualClock
from session_core.app import RunningCore
from session_service.domain.api import (
    ClaimFetchFailed,
    ClaimValidatorKind,
    ClaimValidatorSpec,
    InvalidArgument,
    SessionRecipe,
    Status,
)
from session_service.domain.session_claims import (
    BooleanClaim,
    ClaimKind,
    ClaimRegistry,
    ClaimsModuleError,
    PrimitiveArrayClaim,
    PrimitiveClaim,
    SessionClaim,
    check_claim_definitions,
    load_claims,
    should_refetch,
)
from tests.service.domain.domain_helpers import domain_config

NOW = 1_800_000_000_000
HAS = ClaimValidatorKind.HAS_VALUE


def _returning(value: Any, calls: list[tuple[str, dict[str, Any]]] | None = None) -> Any:
    async def fetch_value(user_id: str, user_context: dict[str, Any]) -> Any:
        if calls is not None:
            calls.append((user_id, user_context))
        return value

    return fetch_value


def _at(now: int) -> Callable[[], int]:
    return lambda: now


async def test_build_and_the_payload_form() -> None:
    calls: list[tuple[str, dict[str, Any]]] = []
    claim = PrimitiveClaim("plan", _returning("pro", calls))
    claim.now_ms = _at(NOW)
    context = {"request_id": "r-1"}
    assert await claim.build("alice", context) == {"plan": {"v": "pro", "t": NOW}}
    assert calls == [("alice", context)]
    assert await PrimitiveClaim("plan", _returning(None)).build("alice") == {}

    payload: dict[str, Any] = {"other": 1}
    assert claim.add_to_payload_(payload, "free") is payload  # in place, as in the SDK
    assert payload == {"other": 1, "plan": {"v": "free", "t": NOW}}
    assert claim.get_value_from_payload(payload) == "free"
    assert claim.get_last_refetch_time(payload) == NOW
    assert claim.remove_from_payload_by_merge_({"plan": 1}) == {"plan": None}
    assert claim.remove_from_payload({"plan": 1, "other": 2}) == {"other": 2}


async def test_a_synchronous_fetch_value_works_too() -> None:
    claim = BooleanClaim("verified", lambda user_id, user_context: user_id == "alice")
    claim.now_ms = _at(NOW)
    assert claim.kind is ClaimKind.BOOLEAN
    assert await claim.build("alice") == {"verified": {"v": True, "t": NOW}}
    assert await claim.build("bob") == {"verified": {"v": False, "t": NOW}}


@pytest.mark.parametrize(
    "stored",
    [{}, {"plan": None}, {"plan": "not an object"}, {"plan": {"t": NOW}}, {"plan": {"v": None}}],
)
def test_absent_or_malformed_values_read_as_none(stored: dict[str, Any]) -> None:
    claim = PrimitiveClaim("plan", _returning("pro"))
    assert claim.get_value_from_payload(stored) is None


@pytest.mark.parametrize("t", [None, "1800000000000", True, [NOW]])
def test_a_refetch_time_that_is_not_a_number_reads_as_none(t: Any) -> None:
    claim = PrimitiveClaim("plan", _returning("pro"))
    assert claim.get_last_refetch_time({"plan": {"v": "pro", "t": t}}) is None


@pytest.mark.parametrize(
    ("stored", "max_age", "expected"),
    [
        ({}, None, True),  # missing: always fetched
        ({}, 300, True),
        ({"plan": {"v": None, "t": NOW}}, None, True),
        ({"plan": {"v": "pro", "t": NOW - 3_600_000}}, None, False),  # no max age: never old
        ({"plan": {"v": "pro", "t": NOW - 300_000}}, 300, False),  # exactly max age: not older
        ({"plan": {"v": "pro", "t": NOW - 300_001}}, 300, True),
        ({"plan": {"v": "pro", "t": NOW + 60_000}}, 300, False),  # from the future: fresh
        ({"plan": {"v": "pro"}}, 300, True),  # no usable t (the SDK raises): fetched
        ({"plan": {"v": "pro", "t": NOW}}, -1, True),  # a negative max age: always fetched
    ],
)
def test_should_refetch(stored: dict[str, Any], max_age: int | None, expected: bool) -> None:
    claim = PrimitiveClaim("plan", _returning("pro"))
    assert should_refetch(claim, stored, max_age, NOW) is expected


def test_bind_gives_validators_their_claims_default_max_age_and_kind() -> None:
    registry = ClaimRegistry(
        [
            BooleanClaim("verified", _returning(True), default_max_age_in_sec=300),
            PrimitiveArrayClaim("roles", _returning(["admin"])),
        ]
    )
    specs = (
        ClaimValidatorSpec(HAS, "verified", value=True),
        ClaimValidatorSpec(HAS, "verified", value=True, max_age_seconds=0),  # 0: the default
        ClaimValidatorSpec(HAS, "verified", value=True, max_age_seconds=60),
        ClaimValidatorSpec(ClaimValidatorKind.INCLUDES, "roles", value="admin"),
        ClaimValidatorSpec(HAS, "undefined", value=1),
    )
    assert [s.max_age_seconds for s in registry.bind(specs, "v")] == [300, 300, 60, None, None]
    with pytest.raises(InvalidArgument) as raised:
        registry.bind((*specs, ClaimValidatorSpec(HAS, "roles", value="admin")), "v")
    assert raised.value.field == "v[5]"
    assert "has_value does not apply to primitive array claim 'roles'" in str(raised.value)
    with pytest.raises(InvalidArgument, match="includes_all does not apply to boolean"):
        registry.bind((ClaimValidatorSpec(ClaimValidatorKind.INCLUDES_ALL, "verified"),), "v")


def test_the_registry_puts_claims_on_the_services_clock() -> None:
    claim = PrimitiveClaim("plan", _returning("pro"))
    registry = ClaimRegistry([claim])
    assert claim.add_to_payload_({}, "pro")["plan"]["t"] != NOW  # the system clock until then
    registry.use_clock(_at(NOW))
    assert claim.add_to_payload_({}, "pro") == {"plan": {"v": "pro", "t": NOW}}


class _NotAClaim(SessionClaim):
    pass


@pytest.mark.parametrize(
    ("claims", "problem"),
    [
        ("roles", "must be a list of claims"),
        ({"roles": 1}, "must be a list of claims"),
        (None, "must be a list of claims"),
        ([object()], "is a object, not a PrimitiveClaim"),
        ([_NotAClaim("x", _returning(1))], "is a _NotAClaim"),
        ([PrimitiveClaim("", _returning(1))], "non-empty string key"),
        ([PrimitiveClaim(7, _returning(1))], "non-empty string key"),  # type: ignore[arg-type]
        ([PrimitiveClaim("sub", _returning(1))], "'sub' is a protected claim"),
        (
            [PrimitiveClaim("a", _returning(1)), BooleanClaim("a", _returning(True))],
            "the key 'a' is defined twice",
        ),
        ([PrimitiveClaim("a", "not callable")], "fetch_value of 'a' is not callable"),  # type: ignore[arg-type]
        ([PrimitiveClaim("a", _returning(1), 0)], "must be a positive integer or None"),
        ([PrimitiveClaim("a", _returning(1), -5)], "must be a positive integer or None"),
        ([PrimitiveClaim("a", _returning(1), 1.5)], "must be a positive integer"),  # type: ignore[arg-type]
        ([PrimitiveClaim("a", _returning(1), True)], "must be a positive integer"),
    ],
)
def test_claim_definitions_are_checked(claims: object, problem: str) -> None:
    with pytest.raises(ClaimsModuleError, match=r"^mod\.claims") as raised:
        check_claim_definitions(claims, "mod.claims")
    assert problem in str(raised.value)


@pytest.fixture
def module_dir(tmp_path: Path) -> Iterator[Path]:
    sys.path.insert(0, str(tmp_path))
    names = set(sys.modules)
    yield tmp_path
    sys.path.remove(str(tmp_path))
    for name in set(sys.modules) - names:
        del sys.modules[name]


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("raise RuntimeError('boom\\nsecond line')", "cannot import claims module 'mod_x': "),
        ("def claims(:\n  pass", "SyntaxError"),
        ("def claims():\n    raise KeyError('k')", "mod_x.claims() raised KeyError"),
        ("claims = 5", "mod_x.claims must be a list of claims"),
        ("other = []", "claims module 'mod_x' has no 'claims'"),
    ],
)
def test_load_claims_failures_are_one_line(module_dir: Path, source: str, problem: str) -> None:
    (module_dir / "mod_x.py").write_text(source + "\n")
    with pytest.raises(ClaimsModuleError) as raised:
        load_claims("mod_x")
    assert problem in str(raised.value)
    assert "\n" not in str(raised.value)


def test_load_claims_from_a_list_or_a_function(module_dir: Path) -> None:
    (module_dir / "mod_y.py").write_text(
        "from session_service.domain.session_claims import BooleanClaim, PrimitiveClaim\n"
        "claims = [BooleanClaim('a', lambda u, c: True)]\n"
        "def more():\n"
        "    return (PrimitiveClaim('b', lambda u, c: 1), PrimitiveClaim('c', lambda u, c: 2))\n"
    )
    assert [claim.key for claim in load_claims("mod_y")] == ["a"]
    assert [claim.key for claim in load_claims(" mod_y:more ")] == ["b", "c"]


@pytest.fixture
async def claims_manager(
    core_node: RunningCore, domain_clock: ManualClock
) -> AsyncIterator[Callable[[list[SessionClaim]], SessionRecipe]]:
    managers: list[SessionRecipe] = []

    def make(claims: list[SessionClaim]) -> SessionRecipe:
        manager = SessionRecipe(domain_config(core_node.url), clock=domain_clock, claims=claims)
        managers.append(manager)
        return manager

    yield make
    for manager in managers:
        await manager.close()


async def test_validate_claims_fetches_once_per_claim_and_leaves_its_input_alone(
    claims_manager: Callable[[list[SessionClaim]], SessionRecipe], domain_clock: ManualClock
) -> None:
    calls: list[tuple[str, dict[str, Any]]] = []
    manager = claims_manager([PrimitiveArrayClaim("roles", _returning(["admin"], calls))])
    payload = {"sub": "alice", "keep": 1}
    validators = [
        ClaimValidatorSpec(ClaimValidatorKind.INCLUDES, "roles", value="admin"),
        ClaimValidatorSpec(ClaimValidatorKind.EXCLUDES, "roles", value="guest"),
    ]
    context = {"request_id": "r-9"}

    result = await manager.validate_claims("alice", payload, validators, user_context=context)

    assert (result.status, result.invalid_claims) == (Status.OK, ())
    assert calls == [("alice", context)]  # the second validator saw the fetched value
    assert result.access_token_payload_update == {
        "sub": "alice",
        "keep": 1,
        "roles": {"v": ["admin"], "t": domain_clock.now_ms()},
    }
    assert payload == {"sub": "alice", "keep": 1}

    fresh = await manager.validate_claims(
        "alice", result.access_token_payload_update, validators, user_context=context
    )
    assert (fresh.status, fresh.access_token_payload_update) == (Status.OK, None)
    assert len(calls) == 1


async def test_validate_claims_with_nothing_found_or_a_failing_fetch(
    claims_manager: Callable[[list[SessionClaim]], SessionRecipe],
) -> None:
    async def failing(user_id: str, user_context: dict[str, Any]) -> Any:
        raise OSError("the roles database is down")

    manager = claims_manager(
        [PrimitiveClaim("plan", _returning(None)), PrimitiveClaim("broken", failing)]
    )
    none_found = await manager.validate_claims(
        "bob", {}, [ClaimValidatorSpec(HAS, "plan", value="pro")]
    )
    assert none_found.status is Status.INVALID_CLAIMS
    assert none_found.access_token_payload_update is None
    with pytest.raises(ClaimFetchFailed) as raised:
        await manager.validate_claims("bob", {}, [ClaimValidatorSpec(HAS, "broken", value=1)])
    assert str(raised.value) == "fetch_value of claim 'broken' raised OSError"
    assert isinstance(raised.value.__cause__, OSError)


async def test_a_server_wide_validator_that_does_not_fit_its_claim_is_refused(
    core_node: RunningCore,
) -> None:
    config = domain_config(
        core_node.url,
        required_claim_validators=(ClaimValidatorSpec(HAS, "roles", value="admin"),),
    )
    with pytest.raises(InvalidArgument) as raised:
        SessionRecipe(config, claims=[PrimitiveArrayClaim("roles", _returning([]))])
    assert raised.value.field == "required_claim_validators[0]"
