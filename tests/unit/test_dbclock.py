"""The store's clock, read through this machine's with a measured offset (SQLite stands in
for the database here; the PostgreSQL clock is covered by the store contract tests)."""

from __future__ import annotations

import time
from pathlib import Path

from connectord.runtime.dbclock import DatabaseClock
from connectord.runtime.store.sqlite import SQLiteStore


def test_a_skewed_local_clock_reads_the_stores_time(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.sqlite3")
    try:
        skewed = DatabaseClock(local=lambda: time.time() - 2.5)  # this machine is 2.5 s behind
        assert abs(skewed() - time.time()) > 2
        assert skewed.sync(store)
        assert abs(skewed.offset - 2.5) < 0.1
        assert abs(skewed() - store.database_time()) < 0.1
    finally:
        store.close()


def test_a_slow_round_trip_is_not_used() -> None:
    ticks = iter([0.0, 10.0])

    class SlowStore:
        def database_time(self) -> float:
            return 1000.0

    clock = DatabaseClock(local=lambda: next(ticks))
    assert not clock.sync(SlowStore())  # type: ignore[arg-type]
    assert clock.offset == 0.0
