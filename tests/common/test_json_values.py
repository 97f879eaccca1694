"""JSON value helpers (``session_common.json_values``): equality that tells booleans from
numbers, and depth, at any depth without recursion."""

from __future__ import annotations

from typing import Any

from session_common.json_values import json_depth, json_equal


def test_json_equal_tells_booleans_from_numbers() -> None:
    assert json_equal({"a": [1, {"b": None}]}, {"a": [1.0, {"b": None}]})
    assert not json_equal({"a": True}, {"a": 1})
    assert not json_equal({"a": 1}, {"a": 1, "b": 2})
    assert not json_equal([1, 2], [2, 1])
    assert not json_equal({"a": "1"}, {"a": 1})


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
