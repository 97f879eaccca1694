"""Claim validators written as JSON (``--required-claim-validators``) read as protobuf's
proto3 JSON parser reads a ``session.v1.ClaimValidator``: the same validators accepted, the
same refused. The reference is ``json_format.ParseDict`` and the gRPC request converter."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from google.protobuf import json_format
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from session_proto.session.v1 import session_service_pb2 as pb
from session_service.domain.claim_validators_json import claim_validators_from_json
from session_service.domain.claims import check_claim_validators
from session_service.domain.errors import InvalidArgument
from session_service.domain.types import ClaimValidatorKind, ClaimValidatorSpec
from session_service.transport.converters import claim_validators_from_pb

FIELD = "required_claim_validators"


def read(entries: Any) -> tuple[ClaimValidatorSpec, ...]:
    specs = claim_validators_from_json(json.dumps(entries), FIELD)
    check_claim_validators(specs, FIELD)
    return specs


def read_with_protobuf(entries: list[Any]) -> tuple[ClaimValidatorSpec, ...]:
    messages = [json_format.ParseDict(entry, pb.ClaimValidator()) for entry in entries]
    specs = claim_validators_from_pb(messages, FIELD)
    check_claim_validators(specs, FIELD)
    return specs


def test_both_field_spellings_and_every_kind() -> None:
    specs = read(
        [
            {"has_value": {"key": "st-ev", "value": True, "max_age_seconds": 300}},
            {"id": "roles", "includesAll": {"key": "st-role", "values": ["a", "b"]}},
            {"excludes": {"key": "tags", "value": ["x", 1.0], "maxAgeSeconds": "-5"}},
        ]
    )
    assert specs == (
        ClaimValidatorSpec(ClaimValidatorKind.HAS_VALUE, "st-ev", True, max_age_seconds=300),
        ClaimValidatorSpec(
            ClaimValidatorKind.INCLUDES_ALL, "st-role", values=("a", "b"), id="roles"
        ),
        ClaimValidatorSpec(ClaimValidatorKind.EXCLUDES, "tags", ["x", 1], max_age_seconds=-5),
    )
    assert isinstance(specs[2].value[1], int)  # 1.0 is the integer 1, as over gRPC


@pytest.mark.parametrize(
    ("text", "field", "message"),
    [
        ("{", FIELD, "is not valid JSON"),
        ('{"has_value": {}}', FIELD, "must be a JSON list"),
        ("[null]", f"{FIELD}[0]", "must be a JSON object"),
        ('[{"nope": {}}]', f"{FIELD}[0]", 'has no field named "nope"'),
        ("[{}]", f"{FIELD}[0]", "one of has_value, includes"),
        ('[{"includes": {"key": "k"}}]', f"{FIELD}[0].includes.value", "is required"),
        ('[{"includes": {"key": "k", "value": null}}]', f"{FIELD}[0].includes.value", "null"),
        ('[{"includes_all": {"key": "k", "values": "a"}}]', f"{FIELD}[0]", "must be a JSON list"),
        ('[{"excludes": {"key": "k", "value": 1e999}}]', f"{FIELD}[0].excludes.value", "finite"),
        ('[{"excludes": {"key": "k", "value": NaN}}]', f"{FIELD}[0].excludes.value", "finite"),
        (
            '[{"has_value": {"key": "k", "value": 1, "max_age_seconds": 1, "maxAgeSeconds": 2}}]',
            f"{FIELD}[0]",
            "twice",
        ),
    ],
)
def test_what_is_refused_names_the_entry(text: str, field: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        specs = claim_validators_from_json(text, FIELD)
        check_claim_validators(specs, FIELD)
    assert refused.value.field == field
    assert message in refused.value.message


def test_a_value_deeper_than_a_claim_can_be_is_refused_before_it_is_walked() -> None:
    deep = "[" * 500 + "1" + "]" * 500
    text = f'[{{"has_value": {{"key": "k", "value": {deep}}}}}]'
    with pytest.raises(InvalidArgument, match="nests 500 levels"):
        claim_validators_from_json(text, FIELD)
    with pytest.raises(InvalidArgument, match="nests too deeply"):
        claim_validators_from_json("[" * 100_000, FIELD)


# -- the same answers as protobuf's parser ---------------------------------------------------

_CHECKS = {
    "has_value": "hasValue",
    "includes": "includes",
    "excludes": "excludes",
    "includes_all": "includesAll",
    "excludes_all": "excludesAll",
}
_text = st.sampled_from(["", "k", "300", "3e2", " 3", "-5", "1.5", "1_0", "\ud800", "x\udc00y"])
_primitives = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**65), max_value=2**65),
    st.floats(allow_nan=False, allow_infinity=False),
    _text,
)
_json = st.recursive(
    _primitives,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=2),
    max_leaves=6,
)
_max_age = st.one_of(
    st.integers(min_value=-10, max_value=2**64),
    st.sampled_from([300.0, 300.5, True, "x"]),
    _text,
)


@st.composite
def _check(draw: st.DrawFn, many: bool) -> Any:
    """A ValueCheck or ValuesCheck object, mostly well-formed, sometimes not."""
    if draw(st.integers(0, 9)) == 0:
        return draw(_json)
    body: dict[str, Any] = {}
    if draw(st.integers(0, 9)):
        body["key"] = "k" if draw(st.integers(0, 5)) else draw(_primitives)
    value = st.one_of(st.sampled_from(["a", 1, 2.5, True]), _json)
    if draw(st.integers(0, 9)):
        body["values" if many else "value"] = draw(st.lists(value, max_size=3) if many else value)
    if draw(st.integers(0, 9)) == 0:
        body["value" if many else "values"] = draw(_json)
    if draw(st.integers(0, 2)) == 0:
        for name in draw(
            st.sets(st.sampled_from(["max_age_seconds", "maxAgeSeconds"]), min_size=1)
        ):
            body[name] = draw(_max_age)
    if draw(st.integers(0, 9)) == 0:
        body[draw(st.sampled_from(["maxage", "Key", "extra"]))] = 1
    return body


@st.composite
def _validator(draw: st.DrawFn) -> Any:
    """A ClaimValidator object, mostly well-formed, sometimes not."""
    if draw(st.integers(0, 19)) == 0:
        return draw(_json)
    entry: dict[str, Any] = {}
    if draw(st.integers(0, 2)) == 0:
        entry["id"] = "an-id" if draw(st.integers(0, 3)) else draw(_primitives)
    checks = [draw(st.sampled_from(sorted(_CHECKS)))]
    if draw(st.integers(0, 9)) == 0:
        checks = draw(st.lists(st.sampled_from(sorted(_CHECKS)), max_size=2, unique=True))
    for check in checks:
        name = check if draw(st.booleans()) else _CHECKS[check]
        entry[name] = draw(_check(many=check.endswith("_all")))
    if draw(st.integers(0, 9)) == 0:
        entry[draw(st.sampled_from(["Id", "check", "has-value"]))] = {}
    return entry


def _outcome(read_entries: Any, entries: list[Any]) -> tuple[ClaimValidatorSpec, ...] | None:
    """The specs, or None for a refusal (a ParseError or an InvalidArgument)."""
    try:
        specs: tuple[ClaimValidatorSpec, ...] = read_entries(entries)
    except (json_format.ParseError, InvalidArgument):
        return None
    return specs


def _same(a: Any, b: Any) -> bool:
    """Equal JSON values, telling True from 1 (specs compare values with ==)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_validator(), min_size=1, max_size=2))
def test_accepts_and_refuses_what_protobufs_json_parser_does(entries: list[Any]) -> None:
    try:
        expected = _outcome(read_with_protobuf, entries)
    except (TypeError, AttributeError, OverflowError, SystemError):
        # Inputs protobuf's parser crashes on rather than refusing (a null entry or list,
        # an integer past a double): refused here.
        assert _outcome(read, entries) is None
        return
    got = _outcome(read, entries)
    assert (got is None) == (expected is None), (entries, got, expected)
    if got is not None and expected is not None:
        assert len(got) == len(expected)
        for mine, theirs in zip(got, expected, strict=True):
            assert (mine.kind, mine.key, mine.id, mine.max_age_seconds) == (
                theirs.kind,
                theirs.key,
                theirs.id,
                theirs.max_age_seconds,
            )
            assert _same(mine.value, theirs.value) and _same(list(mine.values), list(theirs.values))
