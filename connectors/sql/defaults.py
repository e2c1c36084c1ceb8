"""Column defaults as JSON values, when the SQL default is a plain constant.

Catalogs return defaults as SQL text (``'new'::text``, ``0``, ``nextval('s'::regclass)``,
``CURRENT_TIMESTAMP``). Only constants become a JSON ``default``, converted to the
column's JSON type; expressions are evaluated by the database at insert time, so there
is no value to show.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from connectord.connectors.sql.typemap import SqlType

_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
# Trailing casts PostgreSQL prints: ::text, ::character varying, ::numeric(10,2), ::"Mood",
# ::sales.mood (a type outside the search_path is schema-qualified).
_IDENT = r'("[^"]+"|[A-Za-z_][\w ]*)'
_CASTS = re.compile(rf"(::({_IDENT}\.)?{_IDENT}(\(\d+(,\s*\d+)?\))?(\[\])*)*")
_NO_VALUE: tuple[bool, Any] = (False, None)


def literal(expression: str) -> tuple[bool, Any]:
    """``(True, value)`` if ``expression`` is a constant: a str, a Decimal, a bool or None."""
    text = _unwrap(expression.strip())
    if text.upper() == "NULL":
        return True, None
    if text.upper() in ("TRUE", "FALSE"):
        return True, text.upper() == "TRUE"
    if _NUMBER.fullmatch(text):
        return True, Decimal(text)
    if text.startswith("'"):
        return _string_literal(text)
    return _NO_VALUE


def _unwrap(text: str) -> str:
    """``text`` without the parentheses PostgreSQL and SQLite put around defaults."""
    while text.startswith("(") and text.endswith(")") and _balanced(text[1:-1]):
        text = text[1:-1].strip()
    return text


def _balanced(text: str) -> bool:
    depth = 0
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            return False
    return depth == 0


def _string_literal(text: str) -> tuple[bool, Any]:
    end = 1
    while True:
        end = text.find("'", end)
        if end < 0:
            return _NO_VALUE
        if text.startswith("''", end):
            end += 2
            continue
        break
    if not _CASTS.fullmatch(text[end + 1 :]):
        return _NO_VALUE  # an expression such as 'a' || 'b'
    return True, text[1:end].replace("''", "'")


def default_value(expression: str, sql_type: SqlType) -> tuple[bool, Any]:
    """``(True, value)`` when ``expression`` is a constant that fits the column's JSON type."""
    ok, value = literal(expression)
    if not ok or value is None:
        return ok, value
    try:
        return _convert(value, sql_type)
    except (ValueError, InvalidOperation):
        return _NO_VALUE


def _convert(value: Any, sql_type: SqlType) -> tuple[bool, Any]:
    kind = sql_type.kind
    if kind == "boolean":
        return _boolean(value)
    if isinstance(value, bool):
        return _NO_VALUE
    if kind == "integer":
        number = Decimal(value)
        return (True, int(number)) if number == number.to_integral_value() else _NO_VALUE
    if kind == "number":
        return True, float(Decimal(value))
    if kind == "decimal":
        return True, str(Decimal(value))
    if kind == "json" and isinstance(value, str):
        return True, json.loads(value)
    if kind in ("string", "date", "datetime", "time", "uuid"):
        if sql_type.enum is not None and str(value) not in sql_type.enum:
            return _NO_VALUE
        return True, str(value)
    return _NO_VALUE


def _boolean(value: Any) -> tuple[bool, Any]:
    if isinstance(value, bool):
        return True, value
    text = str(value).strip().lower()
    if text in ("t", "true", "y", "yes", "on", "1"):
        return True, True
    if text in ("f", "false", "n", "no", "off", "0"):
        return True, False
    return _NO_VALUE
