"""Checking JSON-like data against msgspec types, with errors that name the parameter at
fault (decoding a request's bytes is the API's: api/body.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from connectord.plugins.server_errors import Invalid

#: What msgpack (the worker protocol) carries: int64 and uint64.
INT_RANGE = (-(2**63), 2**64 - 1)


class InvalidRequestError(Invalid, ValueError):
    """A parameter is missing, unknown or wrongly typed; ``field`` names it."""

    field: str

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message, field)


def convert(data: Any, type_: Any) -> Any:
    """``data`` (JSON-like) as ``type_``, integral floats taken as integers; errors name the field."""
    try:
        return msgspec.convert(data, type_)
    except msgspec.ValidationError as exc:
        if "got `float`" not in str(exc):
            raise named(str(exc)) from None
    try:
        return msgspec.convert(integral(data), type_)
    except msgspec.ValidationError as exc:
        raise named(str(exc)) from None


def integral(value: Any) -> Any:
    """JSON-like data with each float that is a whole number (3.0) made an int (3), in place. A loop,
    not recursion: a body may nest as deep as the decoder allows, deeper than Python's stack."""
    root = [value]
    stack: list[dict[Any, Any] | list[Any]] = [root]
    while stack:
        container = stack.pop()
        keys = container.keys() if isinstance(container, dict) else range(len(container))
        for key in keys:
            item = container[key]
            if isinstance(item, float) and item.is_integer():
                container[key] = int(item)
            elif isinstance(item, dict | list):
                stack.append(item)
    return root[0]


def first_path(value: Any, bad: Callable[[Any], bool], prefix: str = "") -> str | None:
    """The dotted path (``keys.base_url``, ``items[2]``) of the first value for which ``bad``
    holds, or None (a loop, not recursion, as in ``integral``)."""
    stack: list[tuple[str, Any]] = [(prefix, value)]
    while stack:
        path, item = stack.pop()
        if bad(item):
            return path or None
        if isinstance(item, dict):
            children = [(f"{path}.{k}" if path else str(k), v) for k, v in item.items()]
        elif isinstance(item, list):
            children = [(f"{path}[{i}]", v) for i, v in enumerate(item)]
        else:
            continue
        stack.extend(reversed(children))  # depth first, in the order written
    return None


def check_integers(value: Any, prefix: str) -> None:
    """Refuse an integer msgpack cannot carry to a worker (beyond 64 bits), naming it."""
    low, high = INT_RANGE
    path = first_path(value, lambda v: isinstance(v, int) and not low <= v <= high, prefix)
    if path is not None:
        raise InvalidRequestError(f"parameter '{path}': integers must fit in 64 bits", path)


def named(message: str) -> InvalidRequestError:
    """msgspec says "Expected `str`, got `int` - at `$.component`": name the parameter."""
    if message.startswith("Object contains unknown field"):
        name = _nested(message)
        return InvalidRequestError(f"unknown parameter '{name}'", name)
    if message.startswith("Object missing required field"):
        name = _nested(message)
        return InvalidRequestError(f"parameter '{name}' is required", name)
    if " - at `$." in message:
        reason, path = message.rsplit(" - at `$.", 1)
        name = path.rstrip("`")
        return InvalidRequestError(f"parameter '{name}': {reason}", name)
    return InvalidRequestError(f"the body must be a JSON object: {message}", "body")


def _nested(message: str) -> str:
    """The field of "Object contains unknown field `bogus` - at `$.options`": options.bogus."""
    name = message.split("`")[1]
    if " - at `$." in message:
        return message.rsplit(" - at `$.", 1)[1].rstrip("`") + "." + name
    return name
