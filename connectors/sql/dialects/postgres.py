"""PostgreSQL through psycopg 3.

Sessions are read-only and time-limited: design-time calls only read the catalog, and a
dropdown must not hang on a lock or a slow server.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from connectord.connectors.sql.catalog import Access, Column, ListQuery, TableRef
from connectord.connectors.sql.egress import checked_params
from connectord.connectors.sql.failures import classify_postgres
from connectord.connectors.sql.names import TableName
from connectord.connectors.sql.statements import (
    PARAMETERS_FIELD,
    QUERY_FIELD,
    QueryError,
    Statement,
    StatementResult,
    count_result,
    first_line,
    rows_result,
)
from connectord.connectors.sql.typemap import pg_type
from connectord.connectors.sql.urls import PostgresTarget
from connectord.plugins.errors import UpstreamError

STATEMENT_TIMEOUT_MS = 15_000
#: A job's statement may take as long as a job may (300 s unless configured otherwise).
JOB_STATEMENT_TIMEOUT_MS = 300_000
#: SQLSTATE classes of failures that another try may not meet: connection exception,
#: transaction rollback (serialization, deadlock), insufficient resources, operator
#: intervention (a cancelled or timed-out statement), system error.
_TRANSIENT_CLASSES = frozenset({"08", "40", "53", "57", "58"})
# libpq falls back to PGPASSWORD and ~/.pgpass of the process when no password is given;
# a connector must not log in with the server's own secrets on a user's behalf. An empty
# password shadows PGPASSWORD, and a path that cannot exist turns the passfile off (libpq
# warns on stderr about /dev/null itself, but is silent about a missing file).
_NO_PASSFILE = os.path.join(os.devnull, "connectord-no-passfile")
_KIND_NAMES = {
    "r": "table", "p": "partitioned table", "v": "view",
    "m": "materialized view", "f": "foreign table",
}
# Simple views are writable in PostgreSQL; materialized views never are.
_ACCESS_KINDS: dict[Access, list[str]] = {
    "read": ["r", "p", "v", "m", "f"],
    "insert": ["r", "p", "v", "f"],
    "upsert": ["r", "p", "v", "f"],
}
_ACCESS_PRIVILEGES: dict[Access, list[str]] = {
    "read": ["SELECT"],
    "insert": ["INSERT"],
    "upsert": ["INSERT", "UPDATE"],
}
_USER_SCHEMA = "n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'"


@contextmanager
def open_postgres(target: PostgresTarget) -> Iterator[PostgresCatalog]:
    """An open catalog; ConnectFailure (classified) when the server cannot be used."""
    conn = _connect(target)
    with conn:
        try:
            conn.execute(
                "SELECT set_config('statement_timeout', %s, false),"
                " set_config('default_transaction_read_only', 'on', false)",
                [str(STATEMENT_TIMEOUT_MS)],
            )
            yield PostgresCatalog(conn, target.where)
        except psycopg.Error as exc:
            raise UpstreamError(f"PostgreSQL error on {target.where}: {exc}") from exc


def run_statement(target: PostgresTarget, statement: Statement) -> StatementResult:
    """Run ``statement`` in a transaction of its own and commit it.

    The statement always runs to completion (a SELECT calling a function that writes must
    not stop part way): ``max_rows`` caps the rows returned, not those the server sends, so
    a SELECT over a big table wants a LIMIT. Object parameters are passed as jsonb.
    """
    conn = _connect(target)
    with conn:
        try:
            conn.execute(
                "SELECT set_config('statement_timeout', %s, false)", [str(JOB_STATEMENT_TIMEOUT_MS)]
            )
            with conn.transaction(), conn.cursor() as cursor:
                cursor.execute(statement.query, _parameters(statement.parameters))
                if cursor.description is None:
                    return count_result(cursor.rowcount)
                columns = [column.name for column in cursor.description]
                fetched = cursor.fetchmany(statement.max_rows + 1)
                return rows_result(columns, fetched, statement.max_rows)
        except psycopg.Error as exc:
            raise _statement_error(exc, target.where) from exc
        except TypeError as exc:  # placeholders of one style, parameters of the other
            raise QueryError(f"cannot run the query: {exc}", PARAMETERS_FIELD) from exc


def _parameters(parameters: list[Any] | dict[str, Any] | None) -> Any:
    if parameters is None:
        return None  # the query is sent as written: a % needs no doubling
    if isinstance(parameters, dict):
        return {name: _parameter(value) for name, value in parameters.items()}
    return [_parameter(value) for value in parameters]


def _parameter(value: Any) -> Any:
    """JSON objects (and lists holding any) as jsonb; lists of scalars become arrays."""
    nested = isinstance(value, list) and any(isinstance(item, dict | list) for item in value)
    return Jsonb(value) if isinstance(value, dict) or nested else value


def _statement_error(exc: psycopg.Error, where: str) -> Exception:
    sqlstate = exc.sqlstate
    if sqlstate is None and isinstance(exc, psycopg.OperationalError):
        return UpstreamError(f"the connection to PostgreSQL on {where} failed: {first_line(str(exc))}")
    if sqlstate is None:  # psycopg's own check of the parameters, before anything was sent
        return QueryError(f"cannot run the query: {first_line(str(exc))}", PARAMETERS_FIELD)
    primary = exc.diag.message_primary or first_line(str(exc))
    message = f"PostgreSQL error on {where}: {primary} (SQLSTATE {sqlstate})"
    if sqlstate[:2] in _TRANSIENT_CLASSES:
        return UpstreamError(message)
    return QueryError(message, QUERY_FIELD)


def _connect(target: PostgresTarget) -> psycopg.Connection[Any]:
    params = {"application_name": "connectord", **checked_params(target.params)}
    try:
        # libpq's parameters as a connection string: none can be taken for psycopg's own.
        conninfo = make_conninfo("", **params, password=target.password or "", passfile=_NO_PASSFILE)
        return psycopg.connect(conninfo, autocommit=True)
    except psycopg.Error as exc:
        raise classify_postgres(
            exc.sqlstate, str(exc), where=target.where, user=target.user,
            dbname=target.dbname, timeout=target.timeout,
        ) from exc


class PostgresCatalog:
    """The :class:`~connectord.connectors.sql.catalog.Catalog` of one PostgreSQL session.

    Names are compared and ordered as ``text COLLATE "C"`` everywhere: keyset paging needs
    the ``>`` of the cursor and the ``ORDER BY`` to agree, whatever the database collation.
    """

    def __init__(self, conn: psycopg.Connection[Any], where: str) -> None:
        self._conn = conn
        self._where = where

    def _rows(self, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        with self._conn.cursor(row_factory=dict_row) as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()

    def summary(self) -> str:
        info = self._conn.info
        version = (info.parameter_status("server_version") or "?").split()[0]
        return (
            f"Connected to PostgreSQL {version} at {self._where}, "
            f'database "{info.dbname}" as user "{info.user}".'
        )

    def schemas(self, query: ListQuery) -> list[str]:
        sql = f"""
            SELECT n.nspname::text AS name FROM pg_namespace n
            WHERE {_USER_SCHEMA} AND has_schema_privilege(n.oid, 'USAGE')
              AND (%(search)s::text IS NULL OR strpos(lower(n.nspname), lower(%(search)s)) > 0)
              AND (%(after)s::text IS NULL OR n.nspname::text COLLATE "C" > %(after)s)
            ORDER BY n.nspname::text COLLATE "C" LIMIT %(limit)s
        """
        after = query.after[0] if query.after else None
        rows = self._rows(sql, {"search": query.search, "after": after, "limit": query.limit})
        return [row["name"] for row in rows]

    def has_schema(self, name: str) -> bool:
        rows = self._rows("SELECT 1 FROM pg_namespace WHERE nspname = %(name)s", {"name": name})
        return bool(rows)

    def tables(self, schema: str | None, access: Access, query: ListQuery) -> list[TableRef]:
        # Partitions are left out: the partitioned table is what a flow reads and writes,
        # and a table with daily partitions would otherwise bury every other table.
        sql = f"""
            SELECT n.nspname::text AS schema, c.relname::text AS name, c.relkind::text AS kind
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind::text = ANY(%(kinds)s) AND NOT c.relispartition
              AND CASE WHEN %(schema)s::text IS NULL THEN {_USER_SCHEMA}
                       ELSE n.nspname = %(schema)s END
              AND has_schema_privilege(n.oid, 'USAGE')
              AND (SELECT bool_and(has_any_column_privilege(c.oid, p))
                   FROM unnest(%(privileges)s::text[]) AS p)
              AND (%(search)s::text IS NULL OR strpos(lower(c.relname), lower(%(search)s)) > 0)
              AND (%(after_schema)s::text IS NULL
                   OR (n.nspname::text COLLATE "C", c.relname::text COLLATE "C")
                      > (%(after_schema)s, %(after_name)s))
            ORDER BY n.nspname::text COLLATE "C", c.relname::text COLLATE "C"
            LIMIT %(limit)s
        """
        after_schema, after_name = query.after or (None, None)
        params = {
            "kinds": _ACCESS_KINDS[access], "privileges": _ACCESS_PRIVILEGES[access],
            "schema": schema, "search": query.search, "limit": query.limit,
            "after_schema": after_schema, "after_name": after_name,
        }
        return [_table_ref(row) for row in self._rows(sql, params)]

    def find_table(self, name: TableName) -> TableRef | None:
        # quote_ident + to_regclass: exact names, and a bare name resolves through the
        # search_path like it would in a query; to_regclass gives NULL for a missing table.
        sql = """
            SELECT n.nspname::text AS schema, c.relname::text AS name, c.relkind::text AS kind
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.oid = to_regclass(
                    CASE WHEN %(schema)s::text IS NULL THEN quote_ident(%(name)s)
                         ELSE quote_ident(%(schema)s) || '.' || quote_ident(%(name)s) END)
              AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
        """
        rows = self._rows(sql, {"schema": name.schema, "name": name.name})
        return _table_ref(rows[0]) if rows else None

    def columns(self, table: TableRef) -> list[Column]:
        rows = self._rows(_COLUMNS_SQL, {"schema": table.schema, "name": table.name})
        return [_column(row) for row in rows]


# Domains are resolved to their base type (and NOT NULL), arrays to their element type.
# indkey is numbered from 0, hence the ordinality rather than array_position.
# The default of a generated column is its generation expression, so it is not a default.
_COLUMNS_SQL = """
    SELECT a.attname::text AS name,
           format_type(a.atttypid, a.atttypmod) AS sql_type,
           base.typname::text AS typname,
           CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END AS typmod,
           elem.typname::text AS element,
           (SELECT array_agg(e.enumlabel::text ORDER BY e.enumsortorder) FROM pg_enum e
             WHERE e.enumtypid = COALESCE(elem.oid, base.oid)) AS enum_labels,
           a.attnotnull OR (t.typtype = 'd' AND t.typnotnull) AS not_null,
           CASE WHEN a.attgenerated = '' THEN pg_get_expr(d.adbin, d.adrelid) END AS default_expr,
           a.attidentity::text AS identity,
           a.attgenerated <> '' AS generated,
           (SELECT k.position FROM unnest(pk.indkey::int2[]) WITH ORDINALITY AS k(attnum, position)
             WHERE k.attnum = a.attnum) AS pk_position,
           col_description(c.oid, a.attnum) AS description
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    JOIN pg_type t ON t.oid = a.atttypid
    JOIN pg_type base ON base.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
    LEFT JOIN pg_type elem ON elem.oid = base.typelem AND base.typcategory = 'A'
    LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
    LEFT JOIN pg_index pk ON pk.indrelid = c.oid AND pk.indisprimary
    WHERE n.nspname = %(schema)s AND c.relname = %(name)s
    ORDER BY a.attnum
"""


def _table_ref(row: dict[str, Any]) -> TableRef:
    return TableRef(row["schema"], row["name"], _KIND_NAMES.get(row["kind"], row["kind"]))


def _column(row: dict[str, Any]) -> Column:
    enum = tuple(row["enum_labels"]) if row["enum_labels"] is not None else None
    identity = row["identity"]  # 'a' ALWAYS, 'd' BY DEFAULT, '' none
    return Column(
        name=row["name"],
        sql_type=row["sql_type"],
        type=pg_type(row["typname"], row["typmod"], row["element"], enum),
        nullable=not row["not_null"],
        default=row["default_expr"],
        auto=identity != "",
        writable=identity != "a" and not row["generated"],
        primary_key=row["pk_position"],
        description=row["description"],
    )
