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


def first_path(
    value: Any, bad: Callable[[Any], bool], prefix: str = "", limit: int | None = None
) -> str | None:
    """The dotted path (``keys.base_url``, ``items[2]``) of the first value for which ``bad``
    holds, or None (a loop, not recursion, as in ``integral``). Only that one path is
    spelled out: a long key repeated in the path of each of many values beneath it came to
    hundreds of MB of strings for a 100 KB body. With ``limit``, None also after looking at
    that many values."""
    parents: list[tuple[int, str]] = [(-1, prefix)]  # (parent's index, segment) per value seen
    stack: list[tuple[int, Any]] = [(0, value)]
    while stack and (limit is None or len(parents) <= limit):
        node, item = stack.pop()
        if bad(item):
            return _spelled(parents, node) or None
        if isinstance(item, dict):
            children = [(f".{k}", v) for k, v in item.items()]
        elif isinstance(item, list):
            children = [(f"[{i}]", v) for i, v in enumerate(item)]
        else:
            continue
        first = len(parents)
        parents.extend((node, segment) for segment, _ in children)
        stack.extend((first + i, v) for i, (_, v) in reversed(list(enumerate(children))))
    return None


def _spelled(parents: list[tuple[int, str]], node: int) -> str:
    segments = []
    while node >= 0:
        node, segment = parents[node]
        segments.append(segment)
    path = "".join(reversed(segments))
    return path[1:] if not parents[0][1] and path.startswith(".") else path  # no prefix: no dot


def check_integers(value: Any, prefix: str) -> None:
    """Refuse an integer msgpack cannot carry to a worker (beyond 64 bits), naming it. The
    encoder looks at every value in C; which value it refused is then found by halving
    (a walk in Python over 340,000 values held the event loop half a second)."""
    if not _overflows(value):
        return
    path = _first_overflow(value, prefix)
    raise InvalidRequestError(f"parameter '{path}': integers must fit in 64 bits", path)


def _overflows(value: Any) -> bool:
    try:
        msgspec.msgpack.encode(value)
    except OverflowError:
        return True
    return False


def _first_overflow(value: Any, path: str) -> str:
    """The path of the first value beyond 64 bits in ``value`` (which holds one)."""
    while isinstance(value, dict | list):
        keys = list(value) if isinstance(value, dict) else None
        low, high = 0, len(value)
        while high - low > 1:  # the first is in [low, high)
            middle = (low + high) // 2
            half = {k: value[k] for k in keys[low:middle]} if keys is not None else value[low:middle]
            low, high = (low, middle) if _overflows(half) else (middle, high)
        if keys is not None:
            path = f"{path}.{keys[low]}" if path else str(keys[low])
            value = value[keys[low]]
        else:
            path, value = f"{path}[{low}]", value[low]
    return path


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
