"""The embedded store: one SQLite file in WAL mode, migrated on open."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from connectord.runtime.config import ConfigurationError

#: Each entry is one schema version; append, never edit a released one.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE IF NOT EXISTS schema_migrations (
        version    INTEGER PRIMARY KEY,
        applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
    );
    """,
)


class SQLiteStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.url = f"sqlite:///{path}"
        # One connection shared by the worker threads that the event loop hands work to;
        # the lock serialises them, as SQLite allows one writer anyway.
        self._lock = threading.Lock()
        try:
            self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA busy_timeout=5000")
            self._conn.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.Error as exc:
            raise ConfigurationError(f"store {path}: {exc}") from None

    @property
    def schema_version(self) -> int:
        with self._lock:
            row = self._conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
        return int(row[0])

    def ping(self) -> None:
        with self._lock:
            self._conn.execute("SELECT 1").fetchone()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def _migrate(self) -> None:
        with self._lock:
            self._conn.execute(MIGRATIONS[0])
            current = self._conn.execute(
                "SELECT coalesce(max(version), 0) FROM schema_migrations"
            ).fetchone()[0]
            if current > len(MIGRATIONS):
                raise ConfigurationError(
                    f"store {self.path} has schema version {current}; this connectord knows up to "
                    f"{len(MIGRATIONS)}: upgrade connectord"
                )
            for version in range(current + 1, len(MIGRATIONS) + 1):
                # executescript commits first and runs statements one by one, so each
                # migration carries its own transaction and is applied whole or not at all.
                script = MIGRATIONS[version - 1] if version > 1 else ""
                try:
                    self._conn.executescript(
                        f"BEGIN IMMEDIATE; {script}; "
                        f"INSERT INTO schema_migrations (version) VALUES ({version}); COMMIT;"
                    )
                except BaseException:
                    if self._conn.in_transaction:
                        self._conn.execute("ROLLBACK")
                    raise
