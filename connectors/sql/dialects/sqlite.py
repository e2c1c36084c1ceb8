"""SQLite through the standard library's ``sqlite3``.

Files are opened read-only (``mode=ro``): design-time calls only read the catalog, and
read-only mode also refuses to create a file, so a typo in the path is reported instead
of leaving an empty database behind.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from connectord.connectors.sql.catalog import Access, Column, ListQuery, TableRef
from connectord.connectors.sql.failures import ConnectFailure
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
from connectord.connectors.sql.typemap import sqlite_type
from connectord.connectors.sql.urls import SqliteTarget
from connectord.plugins.errors import UpstreamError

#: Seconds to wait for a lock held by a writer before giving up.
BUSY_TIMEOUT = 5.0
_KINDS = {"table": "table", "view": "view", "virtual": "virtual table"}
# Views are read-only in SQLite unless INSTEAD OF triggers make them writable.
_ACCESS_TYPES: dict[Access, tuple[str, ...]] = {
    "read": ("table", "view", "virtual"),
    "insert": ("table", "virtual"),
    "upsert": ("table",),
}
# Every listing leaves out the temp schema and SQLite's own tables (sqlite_sequence, ...).
_USER_TABLES = "t.schema <> 'temp' AND t.name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"


@contextmanager
def open_sqlite(target: SqliteTarget) -> Iterator[SqliteCatalog]:
    """An open, read-only catalog of the file; ConnectFailure if it is not a usable database."""
    path = target.path
    _check_file(path)
    try:
        conn = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True, timeout=BUSY_TIMEOUT)
    except sqlite3.Error as exc:
        raise ConnectFailure("config", f"cannot open SQLite database {path}: {exc}", "url") from exc
    with closing(conn):
        catalog = SqliteCatalog(conn, path)
        catalog.check()
        try:
            yield catalog
        except sqlite3.Error as exc:
            raise UpstreamError(f"SQLite error on {path}: {exc}") from exc


def run_statement(target: SqliteTarget, statement: Statement) -> StatementResult:
    """Run ``statement`` in a transaction of its own and commit it.

    The file is opened read-write (``mode=rw``: still never created); rows are fetched
    lazily, so no more than ``max_rows + 1`` are read. SQLite makes every change of a
    statement, RETURNING ones included, on its first step, so leaving rows unread loses none.
    """
    path = target.path
    _check_file(path)
    uri = f"file:{quote(str(path))}?mode=rw"
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT, isolation_level=None)
    except sqlite3.Error as exc:
        raise ConnectFailure("config", f"cannot open SQLite database {path}: {exc}", "url") from exc
    with closing(conn):
        SqliteCatalog(conn, path).check()
        try:
            conn.execute("BEGIN")
            result = _execute(conn, statement)
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.rollback()
            raise _statement_error(exc, path) from exc
    return result


def _execute(conn: sqlite3.Connection, statement: Statement) -> StatementResult:
    cursor = conn.execute(statement.query, statement.parameters or ())
    try:
        if cursor.description is None:
            return count_result(cursor.rowcount)
        columns = [column[0] for column in cursor.description]
        return rows_result(columns, cursor.fetchmany(statement.max_rows + 1), statement.max_rows)
    finally:
        cursor.close()  # a statement left open would keep COMMIT from finishing


def _statement_error(exc: sqlite3.Error, path: Path) -> Exception:
    message = f"SQLite error on {path}: {first_line(str(exc))}"
    if getattr(exc, "sqlite_errorname", "") in ("SQLITE_BUSY", "SQLITE_LOCKED"):
        return UpstreamError(message)  # another writer holds the file: worth another try
    if isinstance(exc, sqlite3.ProgrammingError) and "binding" in str(exc):
        return QueryError(message, PARAMETERS_FIELD)
    return QueryError(message, QUERY_FIELD)


def _check_file(path: Path) -> None:
    """Say precisely what is wrong with the path, which SQLite would only call 'unable to open'."""
    if not path.exists():
        raise ConnectFailure("config", f"SQLite database file {path} does not exist", "url")
    if not path.is_file():
        raise ConnectFailure("config", f"{path} is not a file, so not a SQLite database", "url")
    if not os.access(path, os.R_OK):
        raise ConnectFailure("config", f"SQLite database file {path} is not readable", "url")


def _casefold(value: str | None) -> str | None:
    return value.casefold() if isinstance(value, str) else value


class SqliteCatalog:
    """The :class:`~connectord.connectors.sql.catalog.Catalog` of one SQLite connection."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self._path = path
        # SQLite's lower() folds ASCII only; this lets searches match "Ärger" with "ä".
        conn.create_function("casefold", 1, _casefold, deterministic=True)

    def check(self) -> None:
        """Read the schema once: SQLite only notices a non-database file when it reads."""
        try:
            self._conn.execute("SELECT count(*) FROM sqlite_schema").fetchone()
        except sqlite3.DatabaseError as exc:
            message = f"{self._path} is not a SQLite database ({exc})"
            raise ConnectFailure("config", message, "url") from exc

    def _rows(self, sql: str, params: dict[str, Any] | None = None) -> list[sqlite3.Row]:
        cursor = self._conn.execute(sql, params or {})
        cursor.row_factory = sqlite3.Row
        return cursor.fetchall()

    def summary(self) -> str:
        sql = f"SELECT count(*) AS n FROM pragma_table_list t WHERE {_USER_TABLES}"
        count = self._rows(sql)[0]["n"]
        return (
            f"Opened SQLite database {self._path} "
            f"(SQLite {sqlite3.sqlite_version}, {count} tables and views)."
        )

    def schemas(self, query: ListQuery) -> list[str]:
        sql = """
            SELECT name FROM pragma_database_list
            WHERE name <> 'temp'
              AND (:search IS NULL OR instr(casefold(name), casefold(:search)) > 0)
              AND (:after IS NULL OR name > :after)
            ORDER BY name LIMIT :limit
        """
        after = query.after[0] if query.after else None
        params = {"search": query.search, "after": after, "limit": query.limit}
        return [row["name"] for row in self._rows(sql, params)]

    def has_schema(self, name: str) -> bool:
        sql = "SELECT 1 FROM pragma_database_list WHERE name = :name AND name <> 'temp'"
        return bool(self._rows(sql, {"name": name}))

    def tables(self, schema: str | None, access: Access, query: ListQuery) -> list[TableRef]:
        types = _ACCESS_TYPES[access]
        type_params = {f"type{i}": kind for i, kind in enumerate(types)}
        in_types = ", ".join(f":{name}" for name in type_params)
        sql = f"""
            SELECT t.schema, t.name, t.type FROM pragma_table_list t
            WHERE {_USER_TABLES} AND t.type IN ({in_types})
              AND (:schema IS NULL OR t.schema = :schema)
              AND (:search IS NULL OR instr(casefold(t.name), casefold(:search)) > 0)
              AND (:after_schema IS NULL OR (t.schema, t.name) > (:after_schema, :after_name))
            ORDER BY t.schema, t.name LIMIT :limit
        """
        after_schema, after_name = query.after or (None, None)
        params = {
            **type_params, "schema": schema, "search": query.search, "limit": query.limit,
            "after_schema": after_schema, "after_name": after_name,
        }
        return [_table_ref(row) for row in self._rows(sql, params)]

    def find_table(self, name: TableName) -> TableRef | None:
        # Like SQLite itself: names match case-insensitively, and a bare name is looked up
        # in the databases in attachment order (main first).
        sql = f"""
            SELECT t.schema, t.name, t.type
            FROM pragma_table_list t JOIN pragma_database_list d ON d.name = t.schema
            WHERE {_USER_TABLES} AND t.type IN ('table', 'view', 'virtual')
              AND t.name = :name COLLATE NOCASE
              AND (:schema IS NULL OR t.schema = :schema COLLATE NOCASE)
            ORDER BY t.name = :name DESC, d.seq LIMIT 1
        """
        rows = self._rows(sql, {"name": name.name, "schema": name.schema})
        return _table_ref(rows[0]) if rows else None

    def columns(self, table: TableRef) -> list[Column]:
        sql = """
            SELECT name, type, "notnull", dflt_value, pk, hidden
            FROM pragma_table_xinfo(:table, :schema) ORDER BY cid
        """
        found = self._rows(sql, {"table": table.name, "schema": table.schema})
        rows = [row for row in found if row["hidden"] != 1]  # hidden columns of virtual tables
        without_rowid = self._without_rowid(table)
        key = [r for r in rows if r["pk"]]
        rowid_alias = (
            len(key) == 1 and key[0]["type"].strip().upper() == "INTEGER" and not without_rowid
        )
        return [_column(row, without_rowid, rowid_alias and row["pk"] == 1) for row in rows]

    def _without_rowid(self, table: TableRef) -> bool:
        sql = "SELECT wr FROM pragma_table_list WHERE schema = :schema AND name = :name"
        rows = self._rows(sql, {"schema": table.schema, "name": table.name})
        return bool(rows and rows[0]["wr"])


def _table_ref(row: sqlite3.Row) -> TableRef:
    return TableRef(row["schema"], row["name"], _KINDS.get(row["type"], row["type"]))


def _column(row: sqlite3.Row, without_rowid: bool, rowid_alias: bool) -> Column:
    """One column from ``pragma_table_xinfo``.

    An INTEGER PRIMARY KEY is the rowid: never NULL, and assigned when omitted. Other
    primary key columns of a rowid table may hold NULL (a documented SQLite quirk); those
    of a WITHOUT ROWID table may not.
    """
    not_null = bool(row["notnull"]) or rowid_alias or (bool(row["pk"]) and without_rowid)
    return Column(
        name=row["name"],
        sql_type=row["type"],
        type=sqlite_type(row["type"]),
        nullable=not not_null,
        default=row["dflt_value"],
        auto=rowid_alias,
        writable=row["hidden"] not in (2, 3),  # generated columns, virtual or stored
        primary_key=row["pk"] or None,
    )
