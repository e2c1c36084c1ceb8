"""What only the PostgreSQL store has: opening and migrating (several nodes at once), its
URL without the password, its errors (unavailable, refused, NUL) and recovery after its
connections are killed, and the lease connection beside the pool."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from connectord.runtime.config import ConfigurationError, Settings
from connectord.runtime.store import open_store
from connectord.runtime.store.postgres import PostgresStore, redact_url
from connectord.runtime.store.postgres_schema import MIGRATIONS, SCHEMA_MIGRATIONS
from connectord.runtime.store.records import (
    ExecutionEnd,
    InvalidTextError,
    NewExecution,
    Reaped,
    Renewed,
    StoreUnavailableError,
)

pytestmark = pytest.mark.postgres
T0 = 1_800_000_000.0


@pytest.fixture
def store(pg_database: str) -> Iterator[PostgresStore]:
    store = PostgresStore(pg_database)
    yield store
    store.close()


def database_name(url: str) -> str:
    return url.rsplit("/", 1)[1]


def terminate_connections(admin_dsn: str, url: str) -> int:
    """Kill every connection to the test's database (not the server), waiting until gone."""
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        rows = admin.execute(
            """SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity
               WHERE datname = %s AND pid <> pg_backend_pid()""",
            (database_name(url),),
        ).fetchall()
    return len(rows)


def test_a_fresh_database_is_migrated_once_by_nodes_opening_it_together(pg_database: str) -> None:
    nodes = 6
    barrier = threading.Barrier(nodes)
    applied: list[list[int]] = []
    errors: list[BaseException] = []

    def open_one() -> None:
        barrier.wait()
        try:
            store = PostgresStore(pg_database)
        except BaseException as exc:
            errors.append(exc)
            return
        applied.append(store.applied)
        store.close()

    threads = [threading.Thread(target=open_one) for _ in range(nodes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert sorted(applied) == [[]] * (nodes - 1) + [list(range(1, len(MIGRATIONS) + 1))]
    with psycopg.connect(pg_database) as conn:
        rows = conn.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()
    assert rows == [(v,) for v in range(1, len(MIGRATIONS) + 1)]


def test_reopening_applies_nothing_and_a_newer_schema_is_refused(pg_database: str) -> None:
    first = PostgresStore(pg_database)
    assert first.applied == list(range(1, len(MIGRATIONS) + 1)) and first.schema_version == len(MIGRATIONS)
    first.close()
    second = PostgresStore(pg_database)
    assert second.applied == []
    second.close()
    with psycopg.connect(pg_database) as conn:
        conn.execute("INSERT INTO schema_migrations (version) VALUES (99)")
    with pytest.raises(
        ConfigurationError,
        match=rf"^store {pg_database} has schema version 99; this connectord knows up to "
        rf"{len(MIGRATIONS)}: upgrade connectord$",
    ):
        PostgresStore(pg_database)


def test_the_schema_uses_postgres_types(store: PostgresStore, pg_database: str) -> None:
    with psycopg.connect(pg_database) as conn:
        types = dict(
            conn.execute(
                """SELECT column_name, data_type FROM information_schema.columns
                   WHERE table_name = 'executions'"""
            ).fetchall()
        )
    assert types["created_at"] == "double precision"
    assert types["sealed_call"] == "bytea"
    assert (types["fence"], types["claims"], types["lease_until"]) == (
        "bigint",
        "integer",
        "double precision",
    )


def test_a_password_libpq_cannot_parse_is_not_quoted_back() -> None:
    # libpq quotes the piece of a URL it cannot parse: here the password itself
    with pytest.raises(ConfigurationError) as refused:
        PostgresStore("postgresql://me:s3cr%zzet@127.0.0.1:1/x")
    assert "s3cr" not in str(refused.value) and "cannot connect" in str(refused.value)


def test_urls_name_no_password() -> None:
    assert redact_url("postgresql://me:s3cret@db:5432/x") == "postgresql://me:***@db:5432/x"
    assert redact_url("postgres://me@db/x?sslmode=require&password=s3cret") == (
        "postgres://me@db/x?sslmode=require&password=***"
    )
    assert redact_url("postgresql://db/x") == "postgresql://db/x"
    assert redact_url("host=db password=s3cret dbname=x") == "host=db password=*** dbname=x"
    with pytest.raises(ConfigurationError) as refused:
        PostgresStore("postgresql://postgres:hunter2@127.0.0.1:1/nowhere")
    message = str(refused.value)
    assert message.startswith("store postgresql://postgres:***@127.0.0.1:1/nowhere: cannot connect: ")
    assert "hunter2" not in message


def test_a_store_url_opens_the_postgres_store(pg_database: str, tmp_path: Path) -> None:
    for url in (pg_database, pg_database.replace("postgresql://", "postgres://", 1)):
        store = open_store(Settings(data_dir=tmp_path, store_url=url))
        try:
            assert isinstance(store, PostgresStore) and not store.single_node
            store.ping()
        finally:
            store.close()


def test_without_psycopg_the_store_url_says_what_to_install(
    pg_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "connectord.runtime.store.postgres", None)
    with pytest.raises(ConfigurationError, match=r"pip install 'connectord\[postgres\]'"):
        open_store(Settings(data_dir=tmp_path, store_url=pg_database))


def test_a_password_never_shows_in_the_stores_url(pg_database: str) -> None:
    with_password = pg_database.replace("postgres@", "postgres:anything@", 1)  # trust auth ignores it
    store = PostgresStore(with_password)
    try:
        assert "anything" not in store.url and ":***@" in store.url
    finally:
        store.close()


def test_killed_connections_cost_a_few_unavailable_calls_then_work_again(
    store: PostgresStore, pg_database: str, pg_admin_dsn: str
) -> None:
    # Four connections in the pool, then the server drops them all (as a restart would).
    holders = 4
    barrier = threading.Barrier(holders)

    def hold() -> None:
        with store.db.connection() as conn:
            conn.execute("SELECT 1")
            barrier.wait(timeout=10)

    threads = [threading.Thread(target=hold) for _ in range(holders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert terminate_connections(pg_admin_dsn, pg_database) >= holders
    outcomes = []
    for i in range(30):
        try:
            # transactions of one and of several statements alike
            store.ping() if i % 2 else store.delete_definition("no-tenant", "no-code", T0)
        except StoreUnavailableError:
            outcomes.append(False)
        else:
            outcomes.append(True)
    assert outcomes.count(False) <= holders  # each broken connection fails once at most
    assert all(outcomes[-10:])


def test_a_pool_with_no_connection_to_give_is_unavailable(pg_database: str) -> None:
    store = PostgresStore(pg_database, pool_size=1, pool_timeout=0.2)
    try:
        assert store.concurrency == 1
        with store.db.connection(), pytest.raises(StoreUnavailableError):
            store.ping()
        store.ping()
    finally:
        store.close()


def test_renewals_and_reapers_do_not_wait_for_the_pool(pg_database: str, tenant: str) -> None:
    store = PostgresStore(pg_database, pool_size=1, pool_timeout=0.2)
    try:
        store.add_execution(NewExecution("x1", tenant, b"call", T0))
        claimed = store.claim_execution(T0, "node-a", T0 + 3)
        assert claimed is not None
        with store.db.connection():  # every request for a pooled connection would time out now
            with pytest.raises(StoreUnavailableError):
                store.ping()
            assert store.renew_leases("node-a", T0 + 6, ["x1"], []) == Renewed(["x1"], [])
            assert store.reap_jobs(T0 + 7) == Reaped(0, [])
            assert store.reap_executions(
                T0 + 7, 3, ExecutionEnd(b"crashed", b"[]", T0 + 7, T0 + 60)
            ) == Reaped(1, [])
    finally:
        store.close()


def test_a_broken_lease_connection_fails_one_renewal_then_reconnects(
    store: PostgresStore, pg_database: str, pg_admin_dsn: str
) -> None:
    assert store.renew_leases("node-a", T0, [], []) == Renewed([], [])  # opens the lease connection
    assert terminate_connections(pg_admin_dsn, pg_database) >= 1
    with pytest.raises(StoreUnavailableError):
        store.renew_leases("node-a", T0, [], [])
    assert store.renew_leases("node-a", T0, [], []) == Renewed([], [])
    assert store.reap_jobs(T0) == Reaped(0, [])


def test_a_text_with_nul_that_slipped_through_is_refused_not_an_error(store: PostgresStore) -> None:
    with pytest.raises(InvalidTextError, match="NUL"), store.db.connection() as conn:
        conn.execute("SELECT %s::text", ("a\x00b",))
    store.ping()


def test_bad_sql_is_a_bug_not_an_unavailable_store(store: PostgresStore) -> None:
    with pytest.raises(psycopg.errors.UndefinedTable), store.db.connection() as conn:
        conn.execute("SELECT * FROM no_such_table")


def test_definitions_stored_before_connectors_were_recorded_are_migrated_unbound(pg_database: str) -> None:
    with psycopg.connect(pg_database, autocommit=True) as conn:  # a store of version 1
        conn.execute(SCHEMA_MIGRATIONS)
        conn.execute(MIGRATIONS[0])
        conn.execute("INSERT INTO schema_migrations (version) VALUES (1)")
        conn.execute("INSERT INTO tenants VALUES ('t', 'acme')")
        conn.execute(
            """INSERT INTO job_definitions VALUES ('d', 't', 'nightly', 'runQuery', 'STARTED', '{}',
                                                   '\\x00', NULL, 1, 100, 86400, 0, 0)"""
        )
    store = PostgresStore(pg_database)
    try:
        assert store.applied == list(range(2, len(MIGRATIONS) + 1))
        before = store.definition("t", "nightly")
        assert before is not None and before.connector is None
        assert store.bind_job_types({"runQuery": "sql"}) == 1
        after = store.definition("t", "nightly")
        assert after is not None and after.connector == "sql"
    finally:
        store.close()
