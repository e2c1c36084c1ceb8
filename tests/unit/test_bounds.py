"""The shapes a worker's result may have, checked the same way on both sides."""

from __future__ import annotations

from typing import Any

from connectord.sandbox.bounds import MAX_DEPTH, nests_too_deep, without_surrogates


def nested(depth: int) -> Any:
    value: Any = {"leaf": [1, "x", None]}  # the list is a level of its own
    for level in range(depth - 2):
        value = {"in": value} if level % 2 else [value, 1]
    return value


def test_depth_counts_objects_and_arrays_up_to_the_limit() -> None:
    assert not nests_too_deep(nested(MAX_DEPTH))
    assert nests_too_deep(nested(MAX_DEPTH + 1))
    assert not nests_too_deep("text") and not nests_too_deep([]) and not nests_too_deep({})
    assert nests_too_deep([[]], limit=1) and not nests_too_deep([[]], limit=2)


def test_any_depth_is_answered_without_recursion() -> None:
    assert nests_too_deep(nested(200_000))


def test_lone_surrogates_become_replacement_characters() -> None:
    assert without_surrogates("a\ud800b\udfffc") == "a\ufffdb\ufffdc"
    assert without_surrogates("ok \U0001f600") == "ok \U0001f600"
