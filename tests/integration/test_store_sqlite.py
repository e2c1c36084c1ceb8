import sqlite3
import stat
from pathlib import Path

import pytest

from connectord.runtime.config import ConfigurationError, Settings
from connectord.runtime.store import SQLITE_FILE, open_store
from connectord.runtime.store.records import NewExecution
from connectord.runtime.store.sqlite import MIGRATIONS, SQLiteStore

T0 = 1_800_000_000.0


def test_the_default_store_is_a_wal_sqlite_file_in_a_private_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "data" / "nested"
    store = open_store(Settings(data_dir=data_dir))
    try:
        store.ping()
        assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
        with sqlite3.connect(data_dir / SQLITE_FILE) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
            assert conn.execute("SELECT max(version) FROM schema_migrations").fetchone() == (len(MIGRATIONS),)
    finally:
        store.close()


def test_reopening_does_not_reapply_migrations(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    SQLiteStore(path).close()
    store = SQLiteStore(path)
    assert store.schema_version == len(MIGRATIONS)
    store.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM schema_migrations").fetchone() == (len(MIGRATIONS),)


def test_a_store_newer_than_this_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    SQLiteStore(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO schema_migrations (version) VALUES (99)")
    with pytest.raises(ConfigurationError, match="schema version 99; this connectord knows up to"):
        SQLiteStore(path)


def test_store_url_choices(tmp_path: Path) -> None:
    explicit = open_store(Settings(data_dir=tmp_path / "unused", store_url=f"sqlite:///{tmp_path}/x.db"))
    explicit.close()
    assert (tmp_path / "x.db").exists() and not (tmp_path / "unused").exists()
    with pytest.raises(ConfigurationError, match="unsupported scheme 'mysql'"):
        open_store(Settings(data_dir=tmp_path, store_url="mysql://db/x"))


def test_a_data_dir_that_is_a_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    with pytest.raises(ConfigurationError, match=r"data directory .*/f is not a directory"):
        open_store(Settings(data_dir=tmp_path / "f"))


def test_definitions_stored_before_connectors_were_recorded_are_migrated_unbound(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    with sqlite3.connect(path) as conn:  # a store of the version before (5), with a definition
        for version in range(1, 6):
            conn.executescript(MIGRATIONS[version - 1])
            conn.execute("INSERT INTO schema_migrations (version) VALUES (?)", (version,))
        conn.execute("INSERT INTO tenants VALUES ('t', 'acme')")
        conn.execute(
            """INSERT INTO job_definitions VALUES ('d', 't', 'nightly', 'runQuery', 'STARTED', x'7b7d',
                                                   x'00', NULL, 1, 100, 86400, 0, 0)"""
        )
    store = SQLiteStore(path)
    try:
        assert store.applied == list(range(6, len(MIGRATIONS) + 1))  # type: ignore[attr-defined]
        before = store.definition("t", "nightly")
        assert before is not None and before.connector is None
        assert store.bind_job_types({"runQuery": "sql"}) == 1
        after = store.definition("t", "nightly")
        assert after is not None and after.connector == "sql"
    finally:
        store.close()


def claim_steps(path: Path, queued: int) -> int:
    """SQLite virtual-machine instructions (to a hundred) one claim of one execution runs
    behind ``queued`` executions of one tenant: work counted, not timed."""
    store = SQLiteStore(path)
    try:
        store.add_user("a@example.com", "acme", "hash-a", T0)
        principal = store.principal("hash-a")
        assert principal is not None
        for i in range(queued):
            store.add_execution(NewExecution(f"e{i}", principal.tenant_id, b"call", T0 + i))
        steps = 0

        def count() -> int:
            nonlocal steps
            steps += 100
            return 0  # go on

        store.db._conn.set_progress_handler(count, 100)  # type: ignore[attr-defined]
        [claimed] = store.claim_executions(T0, "node", T0 + 60, 1, [principal.tenant_id])
        assert claimed.id == "e0"
        return steps
    finally:
        store.close()


def test_a_claim_costs_the_same_behind_a_queue_of_any_length(tmp_path: Path) -> None:
    # It ranks the head of each tenant's queue, found by one index seek per tenant: ranking
    # every row took ~90 steps a row, listing the tenants that have one by a scan ~5.
    short, long = claim_steps(tmp_path / "short.sqlite3", 100), claim_steps(tmp_path / "long.sqlite3", 2100)
    assert long - short <= 200, (short, long)  # not a step per queued row
