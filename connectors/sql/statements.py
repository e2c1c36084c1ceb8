"""One SQL statement run for the ``runQuery`` job type, and its result, in one shape for
SQLite and PostgreSQL (each dialect module runs it its own way)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from connectord.plugins.errors import ConfigError

#: Which params field a failure of the statement is blamed on.
QUERY_FIELD = "params.query"
PARAMETERS_FIELD = "params.parameters"


@dataclass(frozen=True)
class Statement:
    """``parameters``: a list for positional placeholders, a dict for named ones, or None."""

    query: str
    parameters: list[Any] | dict[str, Any] | None
    max_rows: int


@dataclass(frozen=True)
class StatementResult:
    """``rows`` holds at most ``max_rows`` rows (``truncated`` when there were more);
    ``row_count`` is the number of rows returned, or affected for a statement that returns
    none (0 where the database does not say, as for DDL)."""

    columns: list[str]
    rows: list[list[Any]]
    row_count: int
    truncated: bool


class QueryError(ConfigError):
    """The database refused the statement or its parameters; ``field`` says which."""


def rows_result(columns: list[str], fetched: Sequence[Sequence[Any]], max_rows: int) -> StatementResult:
    """The result of a statement that returned rows, from up to ``max_rows + 1`` fetched."""
    rows = json_rows(fetched[:max_rows])
    return StatementResult(columns, rows, len(rows), len(fetched) > max_rows)


def count_result(affected: int) -> StatementResult:
    """The result of a statement that returned no rows."""
    return StatementResult([], [], max(affected, 0), False)


def json_rows(rows: Iterable[Sequence[Any]]) -> list[list[Any]]:
    """Rows as JSON values, the way the connector's schemas describe columns: dates and
    times as ISO 8601 text, exact decimals and UUIDs as strings, binary as base64, and
    anything else the driver returns (network addresses, ranges) as its text."""
    return [msgspec.to_builtins(list(row), enc_hook=str) for row in rows]


def first_line(message: str) -> str:
    """A driver message's first line: what follows quotes the query with a caret."""
    lines = message.strip().splitlines()
    return lines[0] if lines else "no details"
