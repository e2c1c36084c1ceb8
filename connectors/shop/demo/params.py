"""Query parameter parsing with WordPress's validation errors.

WordPress checks every declared parameter before the handler runs and reports all the bad
ones at once as ``rest_invalid_param``, naming each parameter; so does this module.
Unknown parameters are ignored, as WordPress does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from connectord.connectors.shop.demo.errors import wc_error

#: Takes the parameter's name and raw text; returns the value or raises ParamError.
Parser = Callable[[str, str], Any]


class ParamError(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class InvalidParamsError(Exception):
    """One or more parameters are invalid; ``errors`` maps each name to its ParamError."""

    def __init__(self, errors: dict[str, ParamError]) -> None:
        super().__init__(", ".join(errors))
        self.errors = errors

    def response(self) -> web.Response:
        return wc_error(
            400,
            "rest_invalid_param",
            f"Invalid parameter(s): {', '.join(self.errors)}",
            params={name: e.message for name, e in self.errors.items()},
            details={n: {"code": e.code, "message": e.message, "data": None}
                     for n, e in self.errors.items()},
        )


@dataclass(frozen=True)
class Param:
    parse: Parser
    default: Any = None


def read_query(query: Mapping[str, str], spec: Mapping[str, Param]) -> dict[str, Any]:
    """The declared parameters' values (defaults for the absent ones), or InvalidParamsError."""
    values: dict[str, Any] = {}
    errors: dict[str, ParamError] = {}
    for name, param in spec.items():
        raw = query.get(name)
        try:
            values[name] = param.default if raw is None else param.parse(name, raw)
        except ParamError as exc:
            errors[name] = exc
    if errors:
        raise InvalidParamsError(errors)
    return values


def _to_int(name: str, raw: str) -> int:
    try:
        return int(raw.strip())
    except ValueError:
        raise ParamError("rest_invalid_type", f"{name} is not of type integer.") from None


def integer(minimum: int | None = None, maximum: int | None = None) -> Parser:
    def parse(name: str, raw: str) -> int:
        value = _to_int(name, raw)
        if minimum is not None and maximum is not None and not minimum <= value <= maximum:
            raise ParamError("rest_out_of_bounds",
                             f"{name} must be between {minimum} (inclusive) and {maximum} (inclusive)")
        if minimum is not None and value < minimum:
            raise ParamError("rest_out_of_bounds",
                             f"{name} must be greater than or equal to {minimum}")
        return value

    return parse


def one_of(*choices: str) -> Parser:
    def parse(name: str, raw: str) -> str:
        if raw not in choices:
            raise ParamError("rest_not_in_enum", f"{name} is not one of {', '.join(choices)}.")
        return raw

    return parse


def id_list(name: str, raw: str) -> list[int]:
    """A comma-separated list of ids, as WordPress's wp_parse_id_list reads array params."""
    ids = []
    for index, item in enumerate(p for p in raw.split(",") if p.strip()):
        try:
            ids.append(_to_int(name, item))
        except ParamError:
            raise ParamError("rest_invalid_type", f"{name}[{index}] is not of type integer.") from None
    return ids


def boolean(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true"):
        return True
    if value in ("0", "false", ""):
        return False
    raise ParamError("rest_invalid_type", f"{name} is not of type boolean.")


def text(name: str, raw: str) -> str:
    return raw.strip()


PER_PAGE = Param(integer(1, 100), 10)
PAGE = Param(integer(1), 1)
