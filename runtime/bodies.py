"""Decoding request bodies with msgspec, with errors that name the parameter at fault."""

from __future__ import annotations

from typing import TypeVar

import msgspec

T = TypeVar("T")


class InvalidRequestError(ValueError):
    """A parameter is missing, unknown or wrongly typed; ``field`` names it."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def decode_json(decoder: msgspec.json.Decoder[T], body: bytes) -> T:
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise named(str(exc)) from None
    except msgspec.DecodeError as exc:
        raise InvalidRequestError(f"the body is not valid JSON: {exc}", "body") from None
    except RecursionError:
        raise InvalidRequestError("the body is nested too deeply", "body") from None


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
        return InvalidRequestError(f"parameter '{name}': {reason}", name.split(".")[0].split("[")[0])
    return InvalidRequestError(f"the body must be a JSON object: {message}", "body")


def _nested(message: str) -> str:
    """The field of "Object contains unknown field `bogus` - at `$.options`": options.bogus."""
    name = message.split("`")[1]
    if " - at `$." in message:
        return message.rsplit(" - at `$.", 1)[1].rstrip("`") + "." + name
    return name
