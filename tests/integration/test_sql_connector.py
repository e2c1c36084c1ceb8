"""The sql connector through the real plugin manager and runtime, against a real SQLite file
and the PostgreSQL server on 127.0.0.1:5432 (no mocks)."""

from __future__ import annotations

import socket
import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

from connectord.connectors.sql.names import parse_table
from connectord.plugins.manager import ConnectorRegistry, Selection, load_connectors
from connectord.plugins.types import SelectQuery
from connectord.runtime.calls import InvalidCallError, run_call
from connectord.sandbox.calls import Call, Method
from connectord.sandbox.outcomes import Outcome, Rejected, Succeeded

# Their servers are on loopback, which the egress policy refuses unless allowed.
pytestmark = pytest.mark.usefixtures("loopback_egress")

SECRET = "Sup3r-Secret-pw"


@pytest.fixture(scope="module")
def registry() -> ConnectorRegistry:
    registry = load_connectors(Selection(allow=frozenset({"sql"}), entry_points=False))
    assert registry.errors == []
    return registry


def call(registry: ConnectorRegistry, credentials: dict[str, Any], method: Method, **kwargs: Any) -> Outcome:
    return run_call(registry, Call(connector="sql", method=method, credentials=credentials, **kwargs))


def data(outcome: Outcome) -> Any:
    assert isinstance(outcome, Succeeded), outcome
    return outcome.data


def rejected(outcome: Outcome) -> Rejected:
    assert isinstance(outcome, Rejected), outcome
    return outcome


def verify(registry: ConnectorRegistry, credentials: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = data(call(registry, credentials, "verify_credentials"))
    return result


def options(
    registry: ConnectorRegistry,
    credentials: dict[str, Any],
    method: str,
    action: str = "select",
    cfg: dict[str, Any] | None = None,
    **query: Any,
) -> dict[str, Any]:
    outcome = call(
        registry,
        credentials,
        "select_model",
        action=action,
        model_method=method,
        cfg=cfg or {},
        query=SelectQuery(**query),
    )
    result: dict[str, Any] = data(outcome)
    return result


def tables(registry: ConnectorRegistry, credentials: dict[str, Any], **kwargs: Any) -> Outcome:
    """The raw outcome of the select action's tables dropdown."""
    return call(registry, credentials, "select_model", action="select", model_method="tables", **kwargs)


def all_values(
    registry: ConnectorRegistry, credentials: dict[str, Any], method: str, limit: int, **kwargs: Any
) -> tuple[list[str], int]:
    """Every option value, page by page; also the number of pages it took."""
    values: list[str] = []
    cursor = None
    for pages in range(1, 100):
        page = options(registry, credentials, method, limit=limit, cursor=cursor, **kwargs)
        assert len(page["options"]) <= limit
        values += [o["value"] for o in page["options"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return values, pages
    raise AssertionError("paging did not end")


def meta(registry: ConnectorRegistry, credentials: dict[str, Any], action: str, **cfg: Any) -> Outcome:
    return call(registry, credentials, "get_meta_model", action=action, cfg=cfg)


# --- description ------------------------------------------------------------------------


def test_describes_its_operations_and_a_secret_password(registry: ConnectorRegistry) -> None:
    info = registry.get("sql").info
    assert [a.name for a in info.actions] == ["select", "insert", "upsert"]
    assert [t.name for t in info.triggers] == ["poll_new_rows"]
    for op in (*info.actions, *info.triggers):
        assert op.dynamic_metadata and op.model_methods == ["schemas", "tables"]
    assert info.secret_fields() == ["password"]
    assert info.credentials_schema["required"] == ["url"]


def test_credentials_outside_the_schema_are_refused_before_connecting(registry: ConnectorRegistry) -> None:
    result = verify(registry, {"url": "sqlite:///x.db", "user": "extra"})
    assert result["verified"] is False
    assert result["failure"] == {"kind": "config", "field": "user"}


# --- SQLite ------------------------------------------------------------------------------


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Path:
    path = tmp_path / "shop.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(
            '''
            CREATE TABLE orders (
                id INTEGER PRIMARY KEY,
                ref VARCHAR(20) NOT NULL,
                total NUMERIC(10,2) DEFAULT 0,
                paid BOOLEAN NOT NULL DEFAULT FALSE,
                created_at DATETIME DEFAULT CURRENT_TIMESTAMP,
                payload JSON,
                photo BLOB,
                note,
                doubled INTEGER GENERATED ALWAYS AS (id * 2) VIRTUAL
            );
            CREATE VIEW big_orders AS SELECT * FROM orders WHERE total > 100;
            CREATE TABLE "Ärger" (k TEXT PRIMARY KEY, v TEXT) WITHOUT ROWID;
            CREATE TABLE "odd.name" ("say ""hi""" TEXT);
            CREATE TABLE log (line TEXT);
            '''
        )
        for i in range(60):
            conn.execute(f"CREATE TABLE t_{i:03} (id INTEGER)")
    conn.close()
    return path


def sqlite_credentials(path: Path) -> dict[str, Any]:
    return {"url": f"sqlite://{path}"}


def test_sqlite_verifies_an_existing_database(registry: ConnectorRegistry, sqlite_db: Path) -> None:
    result = verify(registry, sqlite_credentials(sqlite_db))
    assert result["verified"] is True
    assert str(sqlite_db) in result["message"] and "65 tables and views" in result["message"]


def test_sqlite_missing_file_is_reported_and_not_created(registry: ConnectorRegistry, tmp_path: Path) -> None:
    missing = tmp_path / "typo.db"
    result = verify(registry, sqlite_credentials(missing))
    assert result["verified"] is False
    assert result["failure"] == {"kind": "config", "field": "url"}
    assert result["message"] == f"SQLite database file {missing} does not exist"
    assert not missing.exists()


def test_sqlite_file_that_is_not_a_database(registry: ConnectorRegistry, tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("these are not the tables you are looking for\n" * 100)
    result = verify(registry, sqlite_credentials(notes))
    assert result["failure"] == {"kind": "config", "field": "url"}
    assert "is not a SQLite database" in result["message"]
    result = verify(registry, sqlite_credentials(tmp_path))
    assert result["failure"] == {"kind": "config", "field": "url"}
    assert "is not a file" in result["message"]


def test_unsupported_scheme_is_a_config_failure(registry: ConnectorRegistry) -> None:
    result = verify(registry, {"url": f"mysql://root:{SECRET}@db/shop"})
    assert result["failure"] == {"kind": "config", "field": "url"}
    assert "unsupported database URL scheme 'mysql'" in result["message"]
    assert SECRET not in result["message"]


def test_sqlite_schemas(registry: ConnectorRegistry, sqlite_db: Path) -> None:
    page = options(registry, sqlite_credentials(sqlite_db), "schemas")
    assert page == {"options": [{"value": "main", "label": "main"}], "next_cursor": None}


def test_sqlite_tables_are_labelled_and_filtered_by_operation(
    registry: ConnectorRegistry, sqlite_db: Path
) -> None:
    creds = sqlite_credentials(sqlite_db)
    read = options(registry, creds, "tables", search="order")["options"]
    assert read == [
        {"value": "main.big_orders", "label": "main.big_orders (view)"},
        {"value": "main.orders", "label": "main.orders (table)"},
    ]
    writable = options(registry, creds, "tables", action="insert", search="order")["options"]
    assert [o["value"] for o in writable] == ["main.orders"]  # a plain SQLite view is read-only


def test_sqlite_search_is_case_insensitive_beyond_ascii(registry: ConnectorRegistry, sqlite_db: Path) -> None:
    creds = sqlite_credentials(sqlite_db)
    assert [o["value"] for o in options(registry, creds, "tables", search="äRG")["options"]] == ["main.Ärger"]
    assert options(registry, creds, "tables", search="no-such-table")["options"] == []
    # Search terms are parameters, not SQL.
    assert options(registry, creds, "tables", search="' OR 1=1 --")["options"] == []


def test_sqlite_tables_page_by_key(registry: ConnectorRegistry, sqlite_db: Path) -> None:
    creds = sqlite_credentials(sqlite_db)
    values, pages = all_values(registry, creds, "tables", limit=25, search="t_")
    assert values == [f"main.t_{i:03}" for i in range(60)]
    assert pages == 3
    everything, _ = all_values(registry, creds, "tables", limit=7)
    names = [parse_table(value).name for value in everything]
    assert len(names) == len(set(names)) == 65
    assert names == sorted(names, key=str.encode)  # SQLite's BINARY order of the key


def test_sqlite_invalid_cursor_and_schema(registry: ConnectorRegistry, sqlite_db: Path) -> None:
    creds = sqlite_credentials(sqlite_db)
    assert rejected(tables(registry, creds, query=SelectQuery(cursor="bogus"))).field == "cursor"
    schemas_cursor = options(registry, creds, "schemas", limit=1)["next_cursor"]
    assert schemas_cursor is None  # only "main": nothing to replay
    outcome = tables(registry, creds, cfg={"schema": "nope"})
    assert (rejected(outcome).field, rejected(outcome).message) == ("schema", 'schema "nope" does not exist')


def test_sqlite_insert_meta_model(registry: ConnectorRegistry, sqlite_db: Path) -> None:
    model = data(meta(registry, sqlite_credentials(sqlite_db), "insert", table="main.orders"))
    props = model["in"]["properties"]
    assert model["in"]["required"] == ["ref"]  # id is the rowid, the rest nullable or defaulted
    assert "doubled" not in props
    assert props["id"] == {"type": "integer", "x-sql-type": "INTEGER", "x-primary-key": True}
    assert props["ref"] == {"type": "string", "x-sql-type": "VARCHAR(20)"}
    assert props["total"]["type"] == ["number", "null"] and props["total"]["default"] == 0
    assert props["paid"] == {
        "type": "boolean",
        "x-sql-type": "BOOLEAN",
        "x-sql-default": "FALSE",
        "default": False,
    }
    assert props["created_at"]["format"] == "date-time" and "default" not in props["created_at"]
    assert props["photo"]["contentEncoding"] == "base64"
    assert "type" not in props["payload"] and "type" not in props["note"]
    out = model["out"]
    assert out["properties"]["doubled"]["readOnly"] is True
    assert out["x-primary-key"] == ["id"] and len(out["required"]) == 9


def test_sqlite_select_upsert_and_quoted_names(registry: ConnectorRegistry, sqlite_db: Path) -> None:
    creds = sqlite_credentials(sqlite_db)
    select = data(meta(registry, creds, "select", table="orders"))  # a bare name, as SQL finds it
    assert select["out"]["properties"]["rows"]["items"]["title"] == "Row of main.orders"
    assert "required" not in select["in"]
    upsert = data(meta(registry, creds, "upsert", table="Ärger"))
    assert upsert["in"]["required"] == ["k"]
    assert rejected(meta(registry, creds, "upsert", table="log")).field == "table"
    odd = options(registry, creds, "tables", search="odd")["options"][0]["value"]
    assert odd == 'main."odd.name"'
    columns = data(meta(registry, creds, "select", table=odd))["in"]["properties"]
    assert list(columns) == ['say "hi"']


def test_sqlite_unknown_or_missing_table(registry: ConnectorRegistry, sqlite_db: Path) -> None:
    creds = sqlite_credentials(sqlite_db)
    unknown = rejected(meta(registry, creds, "select", table="main.nope"))
    assert (unknown.error_type, unknown.field, unknown.message) == (
        "ConfigError",
        "table",
        "table main.nope does not exist",
    )
    # Its config_schema requires a table: refused before the connector runs.
    refusal = "configuration field 'table' of 'insert' is required"
    with pytest.raises(InvalidCallError, match=refusal) as refused:
        meta(registry, creds, "insert")
    assert refused.value.field == "cfg.table"


def test_sqlite_poll_trigger_orders_by_the_rowid(registry: ConnectorRegistry, sqlite_db: Path) -> None:
    creds = sqlite_credentials(sqlite_db)
    assert data(meta(registry, creds, "poll_new_rows", table="orders"))["out"]["x-order-column"] == "id"
    bad = rejected(meta(registry, creds, "poll_new_rows", table="orders", order_column="payload"))
    assert bad.field == "order_column"


# --- PostgreSQL --------------------------------------------------------------------------

SHOP_SQL = """
CREATE SCHEMA sales;
CREATE SCHEMA hr;
CREATE SCHEMA "Mixed Case";
CREATE TYPE sales.mood AS ENUM ('new', 'paid', 'shipped');
CREATE DOMAIN sales.positive_int AS integer NOT NULL CHECK (VALUE > 0);
CREATE TABLE sales.orders (
    id bigserial PRIMARY KEY,
    ref varchar(20) NOT NULL,
    total numeric(12,2) NOT NULL DEFAULT 0,
    status sales.mood NOT NULL DEFAULT 'new',
    tags text[],
    payload jsonb,
    photo bytea,
    created_at timestamptz NOT NULL DEFAULT now(),
    day date,
    paid boolean DEFAULT false,
    qty sales.positive_int,
    code uuid,
    doubled bigint GENERATED ALWAYS AS (id * 2) STORED
);
COMMENT ON COLUMN sales.orders.ref IS 'Order reference shown to customers';
CREATE TABLE sales.events (id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY, at timestamptz);
CREATE TABLE sales.lines (order_id bigint, line int, sku text, PRIMARY KEY (order_id, line));
CREATE VIEW sales.big_orders AS SELECT * FROM sales.orders WHERE total > 100;
CREATE MATERIALIZED VIEW sales.order_stats AS SELECT count(*) AS n FROM sales.orders;
CREATE TABLE "Mixed Case"."we""ird.name" (k text PRIMARY KEY);
CREATE TABLE hr.people (name text);
CREATE TABLE public."Order_Archive" (id int);
DO $$ BEGIN
    FOR i IN 0..119 LOOP
        EXECUTE format('CREATE TABLE public.%I (id int)', 't_' || lpad(i::text, 3, '0'));
    END LOOP;
END $$;
"""


@pytest.fixture
def pg_shop(pg_database: str) -> str:
    """A database with a few schemas, odd names and 120 small tables; yields its URL."""
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute(SHOP_SQL)
    return pg_database


def with_url(url: str, *, user: str | None = None, password: str | None = None, **parts: Any) -> str:
    """``url`` with another user, password, host, port or path."""
    split = urlsplit(url)
    userinfo = user or split.username or ""
    if password:
        userinfo += f":{password}"
    host = parts.get("host", split.hostname)
    port = parts.get("port", split.port)
    path = parts.get("path", split.path)
    return urlunsplit(split._replace(netloc=f"{userinfo}@{host}:{port}", path=path))


def assert_secret_free(*texts: str) -> None:
    for text in texts:
        assert SECRET not in text


@pytest.mark.postgres
def test_pg_verifies_with_password_field_or_in_url(registry: ConnectorRegistry, pg_shop: str) -> None:
    dbname = urlsplit(pg_shop).path.lstrip("/")
    for creds in ({"url": pg_shop, "password": SECRET}, {"url": with_url(pg_shop, password=SECRET)}):
        result = verify(registry, creds)
        assert result["verified"] is True
        assert result["message"].startswith("Connected to PostgreSQL ")
        assert f'database "{dbname}" as user "postgres"' in result["message"]
        assert_secret_free(result["message"])


@pytest.mark.postgres
def test_pg_unknown_role(registry: ConnectorRegistry, pg_admin_dsn: str) -> None:
    url = with_url(pg_admin_dsn, user="ghost_role_x", password=SECRET)
    result = verify(registry, {"url": url})
    assert result == {
        "verified": False,
        "message": 'role "ghost_role_x" does not exist on 127.0.0.1:5432',
        "failure": {"kind": "auth", "field": "url"},
    }


@pytest.mark.postgres
def test_pg_unknown_database(registry: ConnectorRegistry, pg_admin_dsn: str) -> None:
    url = with_url(pg_admin_dsn, password=SECRET, path="/nope_db_x")
    result = verify(registry, {"url": url, "password": SECRET})
    assert result == {
        "verified": False,
        "message": 'database "nope_db_x" does not exist on 127.0.0.1:5432',
        "failure": {"kind": "config", "field": "url"},
    }


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_pg_connection_refused(registry: ConnectorRegistry) -> None:
    port = closed_port()
    result = verify(registry, {"url": f"postgresql://shop:{SECRET}@127.0.0.1:{port}/shop"})
    assert result["failure"] == {"kind": "network", "field": "url"}
    assert result["message"].startswith(f"connection refused by 127.0.0.1:{port}")
    assert_secret_free(result["message"])


def test_pg_unknown_host(registry: ConnectorRegistry) -> None:
    result = verify(registry, {"url": f"postgresql://shop:{SECRET}@nonexistent.invalid:5432/shop"})
    assert result["failure"] == {"kind": "network", "field": "url"}
    assert result["message"] == 'host "nonexistent.invalid" could not be resolved'


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts TCP connections and never says a word, like a stuck server."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


def test_pg_unresponsive_server_times_out(registry: ConnectorRegistry, silent_server: int) -> None:
    started = time.monotonic()
    url = f"postgresql://shop@127.0.0.1:{silent_server}/shop?connect_timeout=2"
    result = verify(registry, {"url": url, "password": SECRET})
    assert time.monotonic() - started < 10
    assert result["failure"] == {"kind": "network", "field": "url"}
    assert result["message"] == f"timed out after 2 s connecting to 127.0.0.1:{silent_server}"


def test_dropdowns_report_an_unreachable_server_as_upstream(registry: ConnectorRegistry) -> None:
    creds = {"url": f"postgresql://shop:{SECRET}@127.0.0.1:{closed_port()}/shop"}
    outcome = rejected(call(registry, creds, "select_model", action="select", model_method="schemas"))
    assert outcome.error_type == "UpstreamError" and "connection refused" in outcome.message
    assert_secret_free(outcome.message)


@pytest.mark.postgres
def test_pg_schemas_skip_system_schemas_and_page(registry: ConnectorRegistry, pg_shop: str) -> None:
    creds = {"url": pg_shop}
    values, pages = all_values(registry, creds, "schemas", limit=2)
    assert values == ["Mixed Case", "hr", "public", "sales"]  # byte order, as the cursor compares
    assert pages == 2
    page = options(registry, creds, "schemas", search="case")
    assert page == {"options": [{"value": "Mixed Case", "label": "Mixed Case"}], "next_cursor": None}


@pytest.mark.postgres
def test_pg_tables_page_across_pages(registry: ConnectorRegistry, pg_shop: str) -> None:
    creds = {"url": pg_shop}
    values, pages = all_values(registry, creds, "tables", limit=50, cfg={"schema": "public"})
    assert values == ["public.Order_Archive", *(f"public.t_{i:03}" for i in range(120))]
    assert pages == 3
    searched, pages = all_values(registry, creds, "tables", limit=10, search="T_1")
    assert searched == [f"public.t_{i:03}" for i in range(100, 120)] and pages == 2


@pytest.mark.postgres
def test_pg_table_labels_search_and_operation_filter(registry: ConnectorRegistry, pg_shop: str) -> None:
    creds = {"url": pg_shop}
    read = options(registry, creds, "tables", search="ORDER")["options"]
    assert [o["label"] for o in read] == [
        "public.Order_Archive (table)",
        "sales.big_orders (view)",
        "sales.order_stats (materialized view)",
        "sales.orders (table)",
    ]
    insert = options(registry, creds, "tables", action="insert", search="order")["options"]
    assert "sales.order_stats" not in [o["value"] for o in insert]
    weird = options(registry, creds, "tables", cfg={"schema": "Mixed Case"})["options"]
    assert weird == [{"value": 'Mixed Case."we""ird.name"', "label": 'Mixed Case."we""ird.name" (table)'}]
    assert options(registry, creds, "tables", search="%")["options"] == []  # no LIKE wildcards


@pytest.mark.postgres
def test_pg_bad_cursor_limit_and_schema(registry: ConnectorRegistry, pg_shop: str) -> None:
    creds = {"url": pg_shop}
    schemas_cursor = options(registry, creds, "schemas", limit=1)["next_cursor"]
    replayed = tables(registry, creds, query=SelectQuery(cursor=schemas_cursor))
    assert rejected(replayed).field == "cursor"
    zero = tables(registry, creds, query=SelectQuery(limit=0))
    assert rejected(zero).field == "limit"
    missing = tables(registry, creds, cfg={"schema": "nope"})
    assert rejected(missing).field == "schema"


@pytest.mark.postgres
def test_pg_insert_meta_model(registry: ConnectorRegistry, pg_shop: str) -> None:
    model = data(meta(registry, {"url": pg_shop}, "insert", table="sales.orders"))
    props = model["in"]["properties"]
    assert model["in"]["required"] == ["ref", "qty"]  # qty: a NOT NULL domain without default
    assert "doubled" not in props
    assert props["id"]["type"] == "integer" and props["id"]["maximum"] == 2**63 - 1
    assert props["id"]["x-sql-default"].startswith("nextval(")
    assert props["ref"] == {
        "type": "string",
        "maxLength": 20,
        "x-sql-type": "character varying(20)",
        "description": "Order reference shown to customers",
    }
    assert props["total"] == {
        "type": "string",
        "format": "decimal",
        "x-sql-type": "numeric(12,2)",
        "x-sql-default": "0",
        "default": "0",
    }
    assert props["status"]["enum"] == ["new", "paid", "shipped"] and props["status"]["default"] == "new"
    assert props["tags"] == {
        "type": ["array", "null"],
        "items": {"type": ["string", "null"]},
        "x-sql-type": "text[]",
    }
    assert props["payload"] == {"x-sql-type": "jsonb"}
    assert props["photo"]["contentEncoding"] == "base64"
    assert props["created_at"]["format"] == "date-time" and "default" not in props["created_at"]
    assert props["day"]["format"] == "date" and props["day"]["type"] == ["string", "null"]
    assert props["paid"]["default"] is False
    assert props["qty"]["type"] == "integer" and props["qty"]["maximum"] == 2**31 - 1
    assert props["code"]["format"] == "uuid"
    out = model["out"]
    assert out["properties"]["doubled"]["readOnly"] is True
    assert out["x-primary-key"] == ["id"]


@pytest.mark.postgres
def test_pg_select_upsert_and_poll(registry: ConnectorRegistry, pg_shop: str) -> None:
    creds = {"url": pg_shop}
    select = data(meta(registry, creds, "select", schema="sales", table="orders"))
    assert "required" not in select["in"] and "doubled" in select["in"]["properties"]
    assert select["out"]["properties"]["rows"]["items"]["required"][0] == "id"
    lines = data(meta(registry, creds, "upsert", table="sales.lines"))
    assert lines["in"]["required"] == ["order_id", "line"]
    assert lines["out"]["x-primary-key"] == ["order_id", "line"]
    events = data(meta(registry, creds, "insert", table="sales.events"))
    assert list(events["in"]["properties"]) == ["at"]  # GENERATED ALWAYS identity
    assert rejected(meta(registry, creds, "upsert", table="sales.events")).field == "table"
    assert rejected(meta(registry, creds, "upsert", table="hr.people")).field == "table"
    poll = data(meta(registry, creds, "poll_new_rows", table="sales.orders", order_column="created_at"))
    assert poll["out"]["x-order-column"] == "created_at"


@pytest.mark.postgres
def test_pg_table_names_resolve_like_sql(registry: ConnectorRegistry, pg_shop: str) -> None:
    creds = {"url": pg_shop}
    weird = data(meta(registry, creds, "select", table='Mixed Case."we""ird.name"'))
    assert list(weird["in"]["properties"]) == ["k"]
    assert (
        data(meta(registry, creds, "select", table="t_007"))["out"]["properties"]["rows"]["items"]["title"]
        == "Row of public.t_007"
    )  # found through the search_path
    not_on_path = rejected(meta(registry, creds, "select", table="orders"))
    assert (not_on_path.field, not_on_path.message) == ("table", "table orders does not exist")
    case = rejected(meta(registry, creds, "select", table="public.order_archive"))
    assert case.message == "table public.order_archive does not exist"  # names are exact


@pytest.mark.postgres
def test_pg_hostile_table_values_are_only_names(registry: ConnectorRegistry, pg_shop: str) -> None:
    creds = {"url": pg_shop}
    hostile = rejected(meta(registry, creds, "select", table="sales.orders; DROP TABLE sales.lines"))
    assert hostile.field == "table"
    assert rejected(meta(registry, creds, "select", table="x')) OR true --")).field == "table"
    assert data(meta(registry, creds, "upsert", table="sales.lines"))["in"]["required"]


@pytest.fixture
def reader_role(pg_shop: str) -> Iterator[str]:
    """A login role that may read sales.orders only; yields a URL that logs in as it."""
    role = f"reader_{uuid.uuid4().hex[:8]}"
    name = sql.Identifier(role)
    with psycopg.connect(pg_shop, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(name))
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA sales TO {}").format(name))
        conn.execute(sql.SQL("GRANT SELECT ON sales.orders TO {}").format(name))
    try:
        yield with_url(pg_shop, user=role)
    finally:
        with psycopg.connect(pg_shop, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP OWNED BY {}").format(name))
            conn.execute(sql.SQL("DROP ROLE {}").format(name))


@pytest.mark.postgres
def test_pg_tables_offered_follow_privileges(registry: ConnectorRegistry, reader_role: str) -> None:
    creds = {"url": reader_role}
    readable = options(registry, creds, "tables", cfg={"schema": "sales"})["options"]
    assert [o["value"] for o in readable] == ["sales.orders"]
    assert options(registry, creds, "tables", action="insert", cfg={"schema": "sales"})["options"] == []
    assert "hr" not in [o["value"] for o in options(registry, creds, "schemas")["options"]]
