"""``select_model``: the schema and table dropdowns, searched and paged in the database."""

from __future__ import annotations

from typing import Any

from connectord.connectors.sql.catalog import Catalog, ListQuery, TableRef
from connectord.connectors.sql.connect import session
from connectord.connectors.sql.describe import ACCESS
from connectord.connectors.sql.paging import decode_cursor, page_size, split_page
from connectord.plugins.errors import ConfigError
from connectord.plugins.types import Option, SelectQuery, SelectResult


def select_options(
    action: str, method: str, credentials: dict[str, Any], cfg: dict[str, Any], query: SelectQuery
) -> SelectResult:
    """One page of the ``method`` dropdown of ``action``."""
    if method == "schemas":
        return _schemas(credentials, query)
    if method == "tables":
        return _tables(action, credentials, cfg, query)
    raise ConfigError(f"the sql connector has no model method {method!r}", field="model_method")


def _list_query(method: str, query: SelectQuery, arity: int) -> tuple[ListQuery, int]:
    """The listing to run (one row more than the page, to see whether another follows)
    and the page size. Checks the cursor before any connection is made."""
    limit = page_size(query.limit)
    after = decode_cursor(method, query.cursor, arity)
    search = (query.search or "").strip() or None
    return ListQuery(search=search, after=after, limit=limit + 1), limit


def _schemas(credentials: dict[str, Any], query: SelectQuery) -> SelectResult:
    listing, limit = _list_query("schemas", query, 1)
    with session(credentials) as catalog:
        names = catalog.schemas(listing)
    page, cursor = split_page(names, limit, "schemas", lambda name: (name,))
    return SelectResult(options=[Option(name, name) for name in page], next_cursor=cursor)


def _tables(
    action: str, credentials: dict[str, Any], cfg: dict[str, Any], query: SelectQuery
) -> SelectResult:
    listing, limit = _list_query("tables", query, 2)
    schema = _schema_filter(cfg)
    with session(credentials) as catalog:
        _check_schema(catalog, schema)
        tables = catalog.tables(schema, ACCESS.get(action, "read"), listing)
    page, cursor = split_page(tables, limit, "tables", _table_key)
    return SelectResult(options=[Option(t.value, t.label) for t in page], next_cursor=cursor)


def _table_key(table: TableRef) -> tuple[str, str]:
    return table.schema, table.name


def _schema_filter(cfg: dict[str, Any]) -> str | None:
    schema = cfg.get("schema")
    if schema is None or schema == "":
        return None
    if not isinstance(schema, str):
        raise ConfigError("schema must be a schema name", field="schema")
    return schema


def _check_schema(catalog: Catalog, schema: str | None) -> None:
    """An empty list would not tell a typo from an empty schema."""
    if schema is not None and not catalog.has_schema(schema):
        raise ConfigError(f'schema "{schema}" does not exist', field="schema")
