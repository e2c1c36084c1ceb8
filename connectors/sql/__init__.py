"""The bundled ``sql`` connector: tables of a SQLite file or a PostgreSQL database.

This module is the pluggy plugin; each hook delegates to the module that does the work:
:mod:`.describe` (what it offers), :mod:`.verify` (credentials), :mod:`.options`
(dropdowns), :mod:`.meta` (schemas of a table), :mod:`.query` (the ``runQuery`` job type),
over the dialects in :mod:`.dialects`.
"""

from __future__ import annotations

from typing import Any

from connectord.connectors.sql.describe import connector_info
from connectord.connectors.sql.meta import describe_table
from connectord.connectors.sql.options import select_options
from connectord.connectors.sql.query import RUN_QUERY, run_query
from connectord.connectors.sql.verify import verify
from connectord.plugins.errors import ConfigError
from connectord.plugins.markers import hookimpl
from connectord.plugins.types import (
    ConnectorInfo,
    JobResult,
    MetaModel,
    SelectQuery,
    SelectResult,
    VerifyResult,
)


@hookimpl
def describe_connector() -> ConnectorInfo:
    """Credentials (url, password) and the select/insert/upsert actions and poll trigger."""
    return connector_info()


@hookimpl
def verify_credentials(credentials: dict[str, Any]) -> VerifyResult:
    """Connect for real; a failure says which field is wrong and why."""
    return verify(credentials)


@hookimpl
def select_model(
    action: str, method: str, credentials: dict[str, Any], cfg: dict[str, Any], query: SelectQuery
) -> SelectResult:
    """The ``schemas`` and ``tables`` dropdowns, searched and paged in the database."""
    return select_options(action, method, credentials, cfg, query)


@hookimpl
def get_meta_model(action: str, credentials: dict[str, Any], cfg: dict[str, Any]) -> MetaModel:
    """JSON schemas of ``action`` on ``cfg["table"]``, from the table's columns."""
    return describe_table(action, credentials, cfg)


@hookimpl
def run_job(job_type: str, params: dict[str, Any], credentials: dict[str, Any]) -> JobResult:
    """``runQuery``: one statement in a transaction, committed; its rows or row count."""
    if job_type != RUN_QUERY.code:
        raise ConfigError(f"the sql connector has no job type '{job_type}'", "jobType")
    return run_query(credentials, params)
