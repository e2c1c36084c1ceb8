"""What checking one input against a connector's schema may cost: the server does it on its
event loop, where every request of every tenant waits meanwhile.

A schema can make that work grow with the input faster than the input: references that
lead back to where they started, twice per level, doubled it with each level of nesting
(17 levels, 90 bytes: the loop held for 3.9 s), and jsonschema's ``uniqueItems`` compares
every pair of an array it cannot sort (8,000 items, 54 KB: 7 s). So every keyword a check
applies counts one step against a budget (``within_budget``), and a check past it ends
with ``CheckTooCostlyError`` (the input is refused, saying so); ``uniqueItems`` is checked
in linear time.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from typing import Any

import msgspec

from connectord.plugins.schema_refs import at, objects
from connectord.plugins.server_errors import Invalid

#: Keywords one check may apply (and items ``uniqueItems`` may look at): a form's
#: credentials take a few dozen, a list of a thousand ids a thousand. The costliest steps
#: measured here (an array's items, each a descent of its own) took about 15 us each:
#: this many hold the server's loop some 30 ms at most.
MAX_STEPS = 2_000

#: Characters of text a pattern may read for one step (RE2 takes ≈ 3 ms per MB here).
TEXT_PER_STEP = 4096

#: The steps left to the check running in this context; None: not counted.
_left: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar("schema_steps_left", default=None)

Keyword = Callable[[Any, Any, Any, Any], Any]


class CheckTooCostlyError(Invalid, RuntimeError):
    """Checking the input against the schema would take more than its budget of steps."""


class within_budget:
    """Count the keywords checks apply within, and raise CheckTooCostlyError past ``steps``.
    A class, not a generator: entered for every call the server checks."""

    __slots__ = ("_steps", "_token")

    def __init__(self, steps: int = MAX_STEPS) -> None:
        self._steps = steps

    def __enter__(self) -> None:
        self._token = _left.set([self._steps])

    def __exit__(self, *_: object) -> None:
        _left.reset(self._token)


def counted(keywords: dict[str, Keyword]) -> dict[str, Keyword]:
    """``keywords`` (a validator class's), each counting one step when it is applied."""
    return {name: _counting(function) for name, function in keywords.items()}


def _counting(function: Keyword) -> Keyword:
    def keyword(validator: Any, value: Any, instance: Any, schema: Any) -> Any:
        spend(1)
        return function(validator, value, instance, schema)

    return keyword


def spend(steps: int) -> None:
    """Count ``steps`` against the budget of the check running, if any."""
    left = _left.get()
    if left is not None:
        left[0] -= steps
        if left[0] < 0:
            raise CheckTooCostlyError(f"checking it would take more than {MAX_STEPS} steps")


def costing_its_length(function: Keyword) -> Keyword:
    """A keyword whose value is a list it goes through (``enum``, ``required``), costing
    a step per element: a description may hold a list of a million."""

    def keyword(validator: Any, value: Any, instance: Any, schema: Any) -> Any:
        spend(len(value) if isinstance(value, list) else 1)
        return function(validator, value, instance, schema)

    return keyword


def costing_the_inputs_length(function: Keyword) -> Keyword:
    """A keyword that goes through each item or key of the input (``items``, ``contains``,
    ``propertyNames``), costing a step per item: a subschema of ``{}`` applies no keyword,
    and 340,000 items of it held the loop 1.4 s for nothing counted."""

    def keyword(validator: Any, value: Any, instance: Any, schema: Any) -> Any:
        spend(len(instance) if isinstance(instance, list | dict) else 1)
        return function(validator, value, instance, schema)

    return keyword


#: Keywords jsonschema checks in time that grows with the square of the input, outside
#: any keyword a budget can count (20,000 keys under ``unevaluatedProperties: true``
#: held the loop 2.6 s): a connector's schema may not use them.
QUADRATIC = ("unevaluatedProperties", "unevaluatedItems")
SQUARE = "checking it takes time that grows with the square of the input"


def quadratic_keyword(schema: Any) -> str | None:
    """Where ``schema`` uses a keyword of QUADRATIC, or None."""
    for path, value in objects(schema):
        for keyword in QUADRATIC:
            if keyword in value:
                return f"{at(path, keyword)}: not supported ({SQUARE})"
    return None


def unique_items(validator: Any, unique: Any, instance: Any, schema: Any) -> Iterator[Any]:
    """``uniqueItems`` in linear time: each item's canonical JSON, hashed. Numbers equal as
    JSON Schema has them (1 and 1.0) at the array's level; nested in objects or arrays, an
    integral float and an integer count as different (a duplicate may pass there)."""
    from jsonschema.exceptions import ValidationError

    if not unique or not validator.is_type(instance, "array"):
        return
    spend(len(instance))
    seen: set[bytes] = set()
    for item in instance:
        key = _canonical(item)
        if key in seen:
            yield ValidationError("has non-unique elements")  # the value is never echoed
            return
        seen.add(key)


def _canonical(item: Any) -> bytes:
    if isinstance(item, float) and not isinstance(item, bool) and item.is_integer():
        item = int(item)
    return msgspec.json.encode(item, order="sorted")
