"""Query parameters that are numbers, checked with errors that name them."""

from __future__ import annotations

import math

from aiohttp import web

from connectord.api.errors import ApiError


def integer(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"{name} must be a whole number, got {raw!r}", name) from None
    if not low <= value <= high:
        raise ApiError(400, f"{name} must be between {low} and {high}, got {value}", name)
    return value


def number(request: web.Request, name: str, default: float, low: float, high: float) -> float:
    """A number of seconds, say; NaN and infinities are refused like any out-of-range value."""
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ApiError(400, f"{name} must be a number of seconds, got {raw!r}", name) from None
    if not (math.isfinite(value) and low <= value <= high):
        raise ApiError(400, f"{name} must be between {low:g} and {high:g} seconds, got {raw}", name)
    return value
