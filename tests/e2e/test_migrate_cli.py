"""``connectord migrate`` brings a store's schema up to date once, on either backend, and
says where it is; a newer schema than this version knows is refused."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from connectord.runtime.store.postgres_schema import MIGRATIONS as PG_MIGRATIONS
from connectord.runtime.store.sqlite_schema import MIGRATIONS as SQLITE_MIGRATIONS

# the versions follow the migrations each backend has (it gains one with every change)
SQLITE, PG = len(SQLITE_MIGRATIONS), len(PG_MIGRATIONS)

Run = Callable[..., subprocess.CompletedProcess[str]]


def test_migrate_the_embedded_store_once(run_cli: Run, cli_env: dict[str, str]) -> None:
    first = run_cli("migrate")
    assert first.returncode == 0, first.stderr
    store = Path(cli_env["CONNECTORD_DATA_DIR"]) / "connectord.sqlite3"
    assert first.stdout.startswith(f"applied migrations {', '.join(map(str, range(1, SQLITE + 1)))}; ")
    assert f"sqlite:///{store} is at schema version {SQLITE}" in first.stdout
    again = run_cli("migrate")
    assert again.returncode == 0
    assert again.stdout.strip() == f"sqlite:///{store} is at schema version {SQLITE}: nothing to apply"


@pytest.mark.postgres
def test_migrate_a_postgresql_store_and_refuse_a_newer_one(run_cli: Run, pg_database: str) -> None:
    import psycopg

    url = pg_database.replace("postgres@", "postgres:pa55word@")  # trust auth ignores it
    first = run_cli("migrate", "--store", url)
    assert first.returncode == 0, first.stderr
    applied = ", ".join(map(str, range(1, PG + 1)))
    assert first.stdout.startswith(f"applied migrations {applied}; ")
    assert f"is at schema version {PG}" in first.stdout
    assert "pa55word" not in first.stdout and "postgres:***@" in first.stdout
    assert run_cli("migrate", "--store", url).stdout.endswith(f"schema version {PG}: nothing to apply\n")
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("INSERT INTO schema_migrations (version) VALUES (99)")
    newer = run_cli("migrate", "--store", url)
    assert newer.returncode == 3
    assert f"has schema version 99; this connectord knows up to {PG}: upgrade connectord" in newer.stderr
    assert "pa55word" not in newer.stderr and "Traceback" not in newer.stderr
