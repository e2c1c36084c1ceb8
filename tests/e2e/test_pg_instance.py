"""The dedicated PostgreSQL server of ``pg_instance`` stops, starts, restarts and crashes on
demand, keeps its port, and keeps committed data."""

from __future__ import annotations

import pytest

from .pg_instance import PgInstance, PgTemplate, running_instance

psycopg = pytest.importorskip("psycopg")


def connect(url: str) -> psycopg.Connection:
    return psycopg.connect(url, autocommit=True, connect_timeout=5)


def count(url: str) -> int:
    with connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM marks").fetchone()
    assert row is not None
    return int(row[0])


def test_stop_start_restart_and_kill_keep_committed_data(pg_instance: PgInstance) -> None:
    url = pg_instance.create_database("harness")
    assert url == f"postgresql://postgres@127.0.0.1:{pg_instance.port}/harness"
    assert pg_instance.port != 5432
    with connect(url) as conn:
        conn.execute("CREATE TABLE marks (n int)")
        conn.execute("INSERT INTO marks VALUES (1)")

    held = connect(url)
    try:
        pg_instance.stop()
        assert not pg_instance.running()
        with pytest.raises(psycopg.OperationalError):  # the open connection was cut off
            held.execute("SELECT 1")
    finally:
        held.close()
    with pytest.raises(psycopg.OperationalError):  # nobody listens while stopped
        connect(url)

    pg_instance.start()
    assert count(url) == 1

    port = pg_instance.port
    pg_instance.restart()
    assert pg_instance.port == port
    with connect(url) as conn:
        conn.execute("INSERT INTO marks VALUES (2)")
    assert count(url) == 2

    pg_instance.kill()  # immediate: no checkpoint, the next start recovers from the WAL
    with pytest.raises(psycopg.OperationalError):
        connect(url)
    pg_instance.start()
    assert count(url) == 2
    assert "database system was interrupted" in pg_instance.log_text()

    pg_instance.stop()
    pg_instance.stop()  # stopping a stopped server is nothing


def test_teardown_stops_the_server_and_removes_its_directory(pg_template: PgTemplate) -> None:
    with running_instance(pg_template) as instance:
        url = instance.url
        with connect(url) as conn:
            assert conn.execute("SELECT current_setting('port')").fetchone() == (str(instance.port),)
        root = instance.root
        assert root.is_dir()
    assert not root.exists()
    with pytest.raises(psycopg.OperationalError):
        connect(url)
