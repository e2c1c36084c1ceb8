"""Query parameters that are numbers or instants, checked with errors that name them."""

from __future__ import annotations

import datetime as dt
import math
import re

from aiohttp import web

from connectord.plugins.server_errors import Invalid


def integer(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise Invalid(f"{name} must be a whole number, got {raw!r}", name) from None
    if not low <= value <= high:
        raise Invalid(f"{name} must be between {low} and {high}, got {value}", name)
    return value


#: A JSON number: what the document's ``"type": "number"`` admits (not ``inf``, ``nan``, ``0x1``).
_NUMBER = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def seconds(request: web.Request, name: str, cap: float, default: float = 0.0) -> float:
    """A number of seconds to wait, ``default`` when not given: any number from 0 up,
    capped at ``cap`` (the server's limit, which may change with its configuration; a
    client asking for more is answered no later than ``cap``)."""
    raw = request.query.get(name)
    if raw is None:
        return default
    if not _NUMBER.fullmatch(raw):
        raise Invalid(f"{name} must be a number of seconds, got {raw!r}", name)
    value = float(raw)  # 1e999 is inf: more than any cap
    if math.isnan(value) or value < 0:
        raise Invalid(f"{name} must be 0 or more seconds, got {raw}", name)
    return min(value, cap)


def instant(request: web.Request, name: str) -> float | None:
    """An RFC 3339 date-time as Unix seconds (without an offset: UTC; a space for the ``T``
    and a date alone are accepted too), or None when not given."""
    raw = request.query.get(name)
    if raw is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(raw.strip().upper())
    except ValueError:
        raise Invalid(
            f"{name} must be an RFC 3339 date-time such as 2026-03-29T02:30:00Z, got {raw!r}", name
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    # a difference of aware datetimes: no overflow at year 1 or 9999, whatever the offset
    return (moment - _EPOCH).total_seconds()
