"""The shapes a worker's result may have, checked the same way on both sides."""

from __future__ import annotations

from typing import Any

from connectord.sandbox.bounds import MAX_DEPTH, NESTS_TOO_DEEP, shape_problem, without_surrogates


def nested(depth: int) -> Any:
    value: Any = {"leaf": [1, "x", None]}  # the list is a level of its own
    for level in range(depth - 2):
        value = {"in": value} if level % 2 else [value, 1]
    return value


def test_depth_counts_objects_and_arrays_up_to_the_limit() -> None:
    assert shape_problem(nested(MAX_DEPTH)) is None
    assert shape_problem(nested(MAX_DEPTH + 1)) == NESTS_TOO_DEEP
    assert shape_problem("text") is None and shape_problem([]) is None and shape_problem({}) is None


def test_any_depth_is_answered_without_recursion() -> None:
    assert shape_problem(nested(200_000)) == NESTS_TOO_DEEP


def test_lone_surrogates_become_replacement_characters() -> None:
    assert without_surrogates("a\ud800b\udfffc") == "a\ufffdb\ufffdc"
    assert without_surrogates("ok \U0001f600") == "ok \U0001f600"
