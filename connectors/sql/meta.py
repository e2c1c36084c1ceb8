"""``get_meta_model``: find the configured table and describe its columns per operation."""

from __future__ import annotations

from typing import Any

from connectord.connectors.sql.connect import session
from connectord.connectors.sql.models import meta_model
from connectord.connectors.sql.names import TableName, TableNameError, parse_table
from connectord.plugins.errors import ConfigError
from connectord.plugins.types import MetaModel


def table_name(cfg: dict[str, Any]) -> TableName:
    """The table ``cfg`` names: ``cfg["table"]``, qualified by ``cfg["schema"]`` if bare."""
    raw = cfg.get("table")
    if raw is None or raw == "":
        raise ConfigError("choose a table", field="table")
    if not isinstance(raw, str):
        raise ConfigError("table must be 'schema.table' or 'table'", field="table")
    try:
        name = parse_table(raw)
    except TableNameError as exc:
        raise ConfigError(str(exc), field="table") from None
    schema = cfg.get("schema")
    if name.schema is None and isinstance(schema, str) and schema:
        return TableName(schema, name.name)
    return name


def describe_table(action: str, credentials: dict[str, Any], cfg: dict[str, Any]) -> MetaModel:
    """The meta model of ``action`` on the configured table."""
    name = table_name(cfg)
    with session(credentials) as catalog:
        table = catalog.find_table(name)
        if table is None:
            raise ConfigError(f"table {name} does not exist", field="table")
        columns = catalog.columns(table)
    return meta_model(action, table.value, columns, cfg)
