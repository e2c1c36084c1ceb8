"""The ``runQuery`` job type: one SQL statement on the account's database, committed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connectord.connectors.sql.connect import run_statement
from connectord.connectors.sql.statements import PARAMETERS_FIELD, QUERY_FIELD, Statement
from connectord.plugins.errors import ConfigError
from connectord.plugins.types import JobResult, JobType, JSONSchema

DEFAULT_MAX_ROWS = 1000
MAX_ROWS = 10_000

PARAMS_SCHEMA: JSONSchema = {
    "type": "object",
    "title": "Run an SQL statement",
    "properties": {
        "query": {
            "type": "string",
            "minLength": 1,
            "title": "SQL statement",
            "description": (
                "One statement. Placeholders as the database's driver reads them: ? or :name "
                "for SQLite, %s or %(name)s for PostgreSQL (where a literal % is written %% "
                "when parameters are given)."
            ),
        },
        "parameters": {
            "type": ["array", "object"],
            "title": "Parameters",
            "description": (
                "Values for the placeholders: an array for positional ones, an object for "
                "named ones. PostgreSQL receives JSON objects as jsonb."
            ),
        },
        "maxRows": {
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_ROWS,
            "default": DEFAULT_MAX_ROWS,
            "title": "Most rows returned",
            "description": "Rows beyond it are left out and the result says truncated.",
        },
    },
    "required": ["query"],
    "additionalProperties": False,
}

RUN_QUERY = JobType(
    code="runQuery",
    title="Run an SQL statement",
    description=(
        "Run one SQL statement (a query, an INSERT, UPDATE, DELETE or DDL) in a transaction, "
        "commit it, and return the rows it produced or the number of rows it changed."
    ),
    params_schema=PARAMS_SCHEMA,
    needs_account=True,
)


def run_query(credentials: dict[str, Any], params: Mapping[str, Any]) -> JobResult:
    """``data``: ``columns``, ``rows`` (arrays in column order), ``rowCount`` (rows returned,
    or rows changed by a statement that returns none) and ``truncated``; ``outputs``:
    ``rowCount``."""
    result = run_statement(credentials, statement_of(params))
    data = {
        "columns": result.columns,
        "rows": result.rows,
        "rowCount": result.row_count,
        "truncated": result.truncated,
    }
    return JobResult(data=data, outputs={"rowCount": result.row_count})


def statement_of(params: Mapping[str, Any]) -> Statement:
    """The statement the params describe; ConfigError naming the param at fault."""
    query = params.get("query")
    if not isinstance(query, str) or not query.strip():
        raise ConfigError("query must be an SQL statement", QUERY_FIELD)
    parameters = params.get("parameters")
    if parameters is not None and not isinstance(parameters, list | dict):
        raise ConfigError("parameters must be an array or an object", PARAMETERS_FIELD)
    max_rows = params.get("maxRows", DEFAULT_MAX_ROWS)
    if isinstance(max_rows, bool) or not isinstance(max_rows, int) or not 1 <= max_rows <= MAX_ROWS:
        raise ConfigError(f"maxRows must be a whole number from 1 to {MAX_ROWS}", "params.maxRows")
    return Statement(query, parameters, max_rows)
