"""Opens the catalog a credentials dict points at, whichever backend that is."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from connectord.connectors.sql.catalog import Catalog
from connectord.connectors.sql.dialects.sqlite import open_sqlite
from connectord.connectors.sql.dialects.sqlite import run_statement as run_sqlite_statement
from connectord.connectors.sql.failures import ConnectFailure
from connectord.connectors.sql.statements import Statement, StatementResult
from connectord.connectors.sql.urls import SqliteTarget, Target, parse_url
from connectord.plugins.errors import ConnectorError, UpstreamError


def target_of(credentials: dict[str, Any]) -> Target:
    """The database the credentials name (ConnectFailure if the URL is unusable)."""
    return parse_url(credentials["url"], credentials.get("password"))


def open_catalog(credentials: dict[str, Any]) -> AbstractContextManager[Catalog]:
    """A context manager over an open catalog; opening raises ConnectFailure."""
    target = target_of(credentials)
    if isinstance(target, SqliteTarget):
        return open_sqlite(target)
    # Imported here: psycopg is an optional dependency (parse_url reports it missing).
    from connectord.connectors.sql.dialects.postgres import open_postgres

    return open_postgres(target)


@contextmanager
def session(credentials: dict[str, Any]) -> Iterator[Catalog]:
    """:func:`open_catalog` for the hooks that are not ``verify_credentials``: there a
    connection failure is not an answer but the reason the call failed."""
    with connect_failures_raised(), open_catalog(credentials) as catalog:
        yield catalog


def run_statement(credentials: dict[str, Any], statement: Statement) -> StatementResult:
    """Run ``statement`` on the database the credentials name, in a transaction committed
    at its end; a connection failure is raised as in :func:`session`."""
    with connect_failures_raised():
        target = target_of(credentials)
        if isinstance(target, SqliteTarget):
            return run_sqlite_statement(target, statement)
        from connectord.connectors.sql.dialects.postgres import run_statement as run_postgres_statement

        return run_postgres_statement(target, statement)


@contextmanager
def connect_failures_raised() -> Iterator[None]:
    """A ConnectFailure as the error a hook raises: UpstreamError when the database could
    not be reached (worth another try), ConnectorError when the credentials are wrong."""
    try:
        yield
    except ConnectFailure as failure:
        error = UpstreamError if failure.kind == "network" else ConnectorError
        raise error(str(failure)) from failure
