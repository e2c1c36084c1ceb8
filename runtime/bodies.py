"""Decoding request bodies with msgspec, with errors that name the parameter at fault."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any, TypeVar, cast

import msgspec

from connectord.plugins.server_errors import Invalid

T = TypeVar("T")
#: What msgpack (the worker protocol) carries: int64 and uint64.
INT_RANGE = (-(2**63), 2**64 - 1)


class InvalidRequestError(Invalid, ValueError):
    """A parameter is missing, unknown or wrongly typed; ``field`` names it."""

    field: str

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message, field)


def decode_json(decoder: msgspec.json.Decoder[T], body: bytes) -> T:
    """The body as ``decoder``'s type; every error names the parameter at fault."""
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as exc:
        if str(exc).startswith("Number out of range"):  # msgspec loses the path: find it
            raise _out_of_range(body) from None
        if "got `float`" not in str(exc):
            raise named(str(exc)) from None
    except msgspec.DecodeError as exc:
        raise InvalidRequestError(f"the body is not valid JSON: {exc}", "body") from None
    except RecursionError:
        raise InvalidRequestError("the body is nested too deeply", "body") from None
    # JSON Schema's integers include 3.0: the document says "integer", msgspec wants an int.
    # convert() checked it as decoder's type, which the stubs give as a TypeForm, not a type.
    return cast(T, convert(integral(msgspec.json.decode(body)), decoder.type))


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


def _out_of_range(body: bytes) -> InvalidRequestError:
    """The error for a number no float can hold (1e400), naming where it is."""
    try:
        data = json.loads(body)  # Python reads 1e400 as inf, where msgspec refuses
    except (ValueError, RecursionError):
        return InvalidRequestError("a number in the body is out of range", "body")
    path = first_path(data, lambda v: isinstance(v, float) and not math.isfinite(v))
    name = path or "body"
    return InvalidRequestError(f"parameter '{name}': number out of range", name)


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
