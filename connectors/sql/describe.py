"""What the sql connector offers: its credentials and operations (no I/O, see the hookspec)."""

from __future__ import annotations

from connectord import __version__
from connectord.connectors.sql.catalog import Access
from connectord.connectors.sql.query import RUN_QUERY
from connectord.plugins.types import ConnectorInfo, JSONSchema, Operation

CONNECTOR_ID = "sql"
MODEL_METHODS = ["schemas", "tables"]
#: What each operation does to its table, which decides the tables it offers.
ACCESS: dict[str, Access] = {
    "select": "read",
    "insert": "insert",
    "upsert": "upsert",
    "poll_new_rows": "read",
}

CREDENTIALS_SCHEMA: JSONSchema = {
    "type": "object",
    "properties": {
        "url": {
            "type": "string",
            "minLength": 1,
            "title": "Database URL",
            "description": (
                "sqlite:///absolute/path/to/file.db or postgresql://user@host:5432/dbname; "
                "put the password in the password field, not in the URL."
            ),
        },
        "password": {
            "type": "string",
            "secret": True,
            "title": "Password",
            "description": "PostgreSQL password (not used for SQLite).",
        },
    },
    "required": ["url"],
    "additionalProperties": False,
}


def _table_config(*extra: tuple[str, JSONSchema]) -> JSONSchema:
    """The configuration fields of an operation; ``x-model-method`` names the dropdown."""
    properties: JSONSchema = {
        "schema": {"type": "string", "title": "Schema", "x-model-method": "schemas"},
        "table": {
            "type": "string",
            "title": "Table",
            "description": "schema.table, or a bare table name (resolved as SQL would)",
            "x-model-method": "tables",
        },
    }
    properties.update(extra)
    return {"type": "object", "properties": properties, "required": ["table"]}


def _operation(name: str, title: str, description: str, config: JSONSchema) -> Operation:
    return Operation(
        name=name,
        title=title,
        description=description,
        dynamic_metadata=True,
        model_methods=list(MODEL_METHODS),
        config_schema=config,
    )


def connector_info() -> ConnectorInfo:
    """The description returned by ``describe_connector``."""
    order_column = (
        "order_column",
        {
            "type": "string",
            "title": "Order column",
            "description": (
                "An increasing column (id, created_at); defaults to a one-column primary key."
            ),
        },
    )
    return ConnectorInfo(
        id=CONNECTOR_ID,
        title="SQL database",
        version=__version__,
        description="Read and write tables of a SQLite file or a PostgreSQL database.",
        credentials_schema=CREDENTIALS_SCHEMA,
        actions=[
            _operation(
                "select", "Select rows",
                "Read the rows of a table that match filters.", _table_config(),
            ),
            _operation(
                "insert", "Insert a row",
                "Insert one row and return it as stored.", _table_config(),
            ),
            _operation(
                "upsert", "Insert or update a row",
                "Insert a row, or update the row with the same primary key.", _table_config(),
            ),
        ],
        triggers=[
            _operation(
                "poll_new_rows", "New rows",
                "Emit each row whose order column is past the last one seen.",
                _table_config(order_column),
            ),
        ],
        job_types=[RUN_QUERY],
    )
