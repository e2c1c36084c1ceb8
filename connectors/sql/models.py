"""The JSON schemas of each operation for one table (the ``get_meta_model`` answer).

Pure: it takes the columns a dialect read and builds the schemas, so every rule here
(what is required, what is read-only, what a default becomes) is the same for all backends.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from connectord.connectors.sql.catalog import Column
from connectord.connectors.sql.defaults import default_value
from connectord.connectors.sql.typemap import json_schema, nullable
from connectord.plugins.errors import ConfigError
from connectord.plugins.types import JSONSchema, MetaModel

ORDERABLE_KINDS = frozenset({"integer", "number", "decimal", "date", "datetime"})


def column_schema(column: Column, *, with_default: bool = False) -> JSONSchema:
    """The schema of one column's value; ``x-sql-type`` keeps the declared SQL type."""
    base = json_schema(column.type)
    if column.nullable:
        base = nullable(base)
    schema: JSONSchema = dict(base)
    if column.sql_type:  # SQLite columns may have no declared type at all
        schema["x-sql-type"] = column.sql_type
    if column.description:
        schema["description"] = column.description
    if column.primary_key:
        schema["x-primary-key"] = True
    if with_default and column.default is not None:
        schema["x-sql-default"] = column.default
        ok, value = default_value(column.default, column.type)
        if ok and (value is not None or column.nullable):
            schema["default"] = value
    return schema


def required_on_insert(column: Column) -> bool:
    """An INSERT fails without this column: NOT NULL and nothing fills it in."""
    return column.writable and not column.nullable and column.default is None and not column.auto


def object_schema(
    title: str,
    properties: Mapping[str, JSONSchema],
    required: Sequence[str] = (),
    primary_key: Sequence[str] = (),
) -> JSONSchema:
    """A closed object schema: unknown keys would be unknown columns, an SQL error later."""
    schema: JSONSchema = {"type": "object", "title": title, "properties": dict(properties)}
    if required:
        schema["required"] = list(required)
    if primary_key:
        schema["x-primary-key"] = list(primary_key)
    schema["additionalProperties"] = False
    return schema


def primary_key(columns: Sequence[Column]) -> list[str]:
    """The primary key's column names, in key order."""
    keyed = sorted((c for c in columns if c.primary_key), key=lambda c: c.primary_key or 0)
    return [c.name for c in keyed]


def row_schema(table: str, columns: Sequence[Column]) -> JSONSchema:
    """A row as the database returns it: every column present, generated ones read-only."""
    properties = {}
    for column in columns:
        schema = column_schema(column)
        if not column.writable:
            schema["readOnly"] = True
        properties[column.name] = schema
    required = [c.name for c in columns]
    return object_schema(f"Row of {table}", properties, required, primary_key(columns))


def insert_schema(
    table: str, columns: Sequence[Column], extra_required: Sequence[str] = ()
) -> JSONSchema:
    """The values of a new row: writable columns only, required where the INSERT needs them."""
    writable = [c for c in columns if c.writable]
    required = [c.name for c in writable if required_on_insert(c) or c.name in extra_required]
    properties = {c.name: column_schema(c, with_default=True) for c in writable}
    return object_schema(f"New row of {table}", properties, required, primary_key(columns))


def filter_schema(table: str, columns: Sequence[Column]) -> JSONSchema:
    """Optional equality filters, one per column (null matches NULL where the column allows it)."""
    properties = {c.name: column_schema(c) for c in columns}
    return object_schema(f"Filters on {table}", properties, (), primary_key(columns))


def _select(table: str, columns: Sequence[Column], cfg: Mapping[str, Any]) -> MetaModel:
    rows = {"type": "array", "items": row_schema(table, columns)}
    out = object_schema(f"Rows of {table}", {"rows": rows}, ["rows"])
    return MetaModel(in_=filter_schema(table, columns), out=out)


def _insert(table: str, columns: Sequence[Column], cfg: Mapping[str, Any]) -> MetaModel:
    return MetaModel(in_=insert_schema(table, columns), out=row_schema(table, columns))


def _upsert(table: str, columns: Sequence[Column], cfg: Mapping[str, Any]) -> MetaModel:
    """Like insert, but the primary key is required: it is what matches an existing row."""
    key = primary_key(columns)
    if not key:
        raise ConfigError(
            f"table {table} has no primary key, which upsert needs to match existing rows",
            field="table",
        )
    fixed = [c.name for c in columns if c.primary_key and not c.writable]
    if fixed:
        raise ConfigError(
            f"table {table}: primary key column {fixed[0]} is generated by the database, "
            "so upsert cannot set it; use insert",
            field="table",
        )
    return MetaModel(in_=insert_schema(table, columns, key), out=row_schema(table, columns))


def _poll(table: str, columns: Sequence[Column], cfg: Mapping[str, Any]) -> MetaModel:
    """No input; each new row is an event. Rows are new past the last ``order_column`` seen."""
    column = order_column(table, columns, cfg.get("order_column"))
    out = {**row_schema(table, columns), "x-order-column": column.name}
    return MetaModel(in_=object_schema(f"Poll {table}", {}), out=out)


def order_column(table: str, columns: Sequence[Column], name: Any) -> Column:
    """The column that tells new rows from seen ones: ``name``, or a one-column primary key."""
    if name in (None, ""):
        key = [c for c in columns if c.primary_key]
        if len(key) != 1:
            raise ConfigError(
                f"choose order_column: table {table} has no single-column primary key to use",
                field="order_column",
            )
        name = key[0].name
    if not isinstance(name, str):
        raise ConfigError("order_column must be a column name", field="order_column")
    column = next((c for c in columns if c.name == name), None)
    if column is None:
        raise ConfigError(f"table {table} has no column {name!r}", field="order_column")
    if column.type.kind not in ORDERABLE_KINDS:
        raise ConfigError(
            f"column {name!r} ({column.sql_type}) cannot order new rows; "
            "choose an increasing number or timestamp column",
            field="order_column",
        )
    return column


BUILDERS: dict[str, Callable[[str, Sequence[Column], Mapping[str, Any]], MetaModel]] = {
    "select": _select,
    "insert": _insert,
    "upsert": _upsert,
    "poll_new_rows": _poll,
}


def meta_model(
    action: str, table: str, columns: Sequence[Column], cfg: Mapping[str, Any]
) -> MetaModel:
    """The schemas of ``action`` on ``table`` (its dropdown value) with these columns."""
    try:
        build = BUILDERS[action]
    except KeyError:
        message = f"the sql connector has no operation {action!r}"
        raise ConfigError(message, field="action") from None
    return build(table, columns, cfg)
