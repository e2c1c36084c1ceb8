"""What the dialects tell about a database, in one shape for SQLite and PostgreSQL.

The hooks only talk to a :class:`Catalog`; each dialect module implements it with its
own catalog queries, so adding a backend means adding one module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from connectord.connectors.sql.names import TableName, format_table
from connectord.connectors.sql.typemap import SqlType

#: What an operation does to a table, which decides the tables it may offer.
Access = Literal["read", "insert", "upsert"]


@dataclass(frozen=True)
class TableRef:
    """A table or view that exists; ``kind`` is a word for people ("table", "view", ...)."""

    schema: str
    name: str
    kind: str

    @property
    def value(self) -> str:
        return format_table(self.schema, self.name)

    @property
    def label(self) -> str:
        return f"{self.value} ({self.kind})"


@dataclass(frozen=True)
class Column:
    """A column, reduced to what the JSON schemas need.

    ``auto``: the database fills it in when it is omitted (identity, SQLite rowid alias),
    beyond any ``default`` expression. ``writable`` is false for generated columns and
    ``GENERATED ALWAYS`` identities, which an INSERT must leave out.
    ``primary_key`` is the 1-based position in the primary key.
    """

    name: str
    sql_type: str
    type: SqlType
    nullable: bool = True
    default: str | None = None
    auto: bool = False
    writable: bool = True
    primary_key: int | None = None
    description: str | None = None


@dataclass(frozen=True)
class ListQuery:
    """One page of a listing: a case-insensitive substring, the key after which the page
    starts, and how many rows to fetch."""

    search: str | None
    after: tuple[str, ...] | None
    limit: int


class Catalog(Protocol):
    """An open connection, seen through the questions the hooks ask."""

    def summary(self) -> str:
        """One sentence saying what is connected, for a successful verification."""
        ...

    def schemas(self, query: ListQuery) -> list[str]:
        """Schema names in key order; ``query.after`` is ``(name,)``."""
        ...

    def has_schema(self, name: str) -> bool: ...

    def tables(self, schema: str | None, access: Access, query: ListQuery) -> list[TableRef]:
        """Tables usable for ``access`` in key order; ``query.after`` is ``(schema, name)``."""
        ...

    def find_table(self, name: TableName) -> TableRef | None:
        """The table ``name`` refers to, as the database would resolve it, if it exists."""
        ...

    def columns(self, table: TableRef) -> list[Column]: ...
