"""The embedded store: one SQLite file in WAL mode, migrated on open.

Methods are synchronous and short; the async layer runs them on one thread of their own
(``GroupCommitRunner``), so the event loop never waits on the disk. Each write is one
transaction, committed before the method returns, or a savepoint of the batch the runner
commits for the calls that queued meanwhile.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Literal

from connectord.runtime.config import ConfigurationError, StoreSync
from connectord.runtime.store.dialect import Dialect, Fragment, Params, Row, Session, queued_tenants
from connectord.runtime.store.records import StoreSyncError, StoreUnavailableError
from connectord.runtime.store.sqlite_schema import MIGRATIONS
from connectord.runtime.store.store import Store

#: "file is not a database", "database disk image is malformed" are plain DatabaseErrors.
_CORRUPT = sqlite3.DatabaseError

_FRAGMENTS = {
    # one writer holds the whole file: no row locks to take or skip
    "skip_locked": Fragment(""),
    "skip_locked_of": Fragment(""),
    "for_update": Fragment(""),
    "for_share": Fragment(""),
    "greatest": Fragment("max"),
    "is": Fragment("IS"),
    "in_list": Fragment("IN (SELECT value FROM json_each(:{0}))"),
    "position": Fragment("instr({0}, {1})"),
    # no LATERAL here; the correlated subquery runs once per tenant (the partial index)
    "first_queued": Fragment(
        queued_tenants("INDEXED BY executions_queued_by_tenant") + " "
        "JOIN executions {0} ON {0}.id IN (SELECT x.id FROM executions x WHERE x.tenant_id = heads.tenant_id "
        "AND x.state = 'queued' ORDER BY x.created_at LIMIT :window)"
    ),
}


class SQLiteSession(Session):
    fragments = _FRAGMENTS

    @staticmethod
    @functools.lru_cache(maxsize=512)
    def render(query: str) -> str:
        return query.format_map(_FRAGMENTS)  # sqlite3 takes ``:name`` parameters as they are

    def array(self, values: Sequence[str]) -> object:
        return json.dumps(list(values))

    def take(self, table: str, columns: str, where: str, change: str, params: Params) -> Row | None:
        # the write lock is held from here (BEGIN IMMEDIATE): no one else can read it meanwhile
        row = self.one(f"SELECT {columns} FROM {table} WHERE {where}", params)
        if row is not None:
            self.run(f"UPDATE {table} SET {change} WHERE id = :taken_id", {**params, "taken_id": row[0]})
        return row


class SQLite(Dialect):
    #: One process owns the file: what runs when it starts was interrupted.
    single_node = True
    #: SQLite has one writer; one thread keeps the order of writes.
    concurrency = 1
    integrity_error = sqlite3.IntegrityError

    def __init__(self, path: Path, sync: StoreSync = "accepted") -> None:
        self.path = path
        self.url = f"sqlite:///{path}"
        #: ``sync``, or "builtin" where the file has no WAL to sync (SQLite's FULL then).
        self.sync: StoreSync | Literal["builtin"] = sync
        self._wal = Path(f"{path}-wal")
        #: A commit of the open batch must be synced (a savepoint asked for it).
        self._batch_synced = False
        # One connection, used from the store's own thread; the lock also guards the
        # rare direct calls (CLI commands, tests). Reentrant: a batch holds it around its calls.
        self._lock = threading.RLock()
        #: The thread whose batch is open (only it holds the lock meanwhile).
        self._batch_thread: int | None = None
        self.batch = self._batch
        try:
            self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            mode = self._conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                # No WAL on this file system (a network one): SQLite syncs every commit itself.
                self.sync = "none" if sync == "none" else "builtin"
            # Commits are written, not synced; those that must survive a power loss sync the
            # WAL themselves (``_sync``), so one batch of many calls syncs once at most.
            level = "FULL" if self.sync == "builtin" else "NORMAL"
            self._conn.execute(f"PRAGMA synchronous={level}")
            self._conn.execute("PRAGMA busy_timeout=5000")
            self._conn.execute("PRAGMA foreign_keys=ON")
            self.applied = self._migrate()
        except sqlite3.Error as exc:
            raise ConfigurationError(f"store {path}: {exc}") from None

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def database_time(self) -> float:
        return time.time()  # the file has no clock of its own; one process, one clock

    def announce(self, event: str) -> None:
        """Nothing to do: no other process listens to a SQLite store."""

    def listen(self, callback: Callable[[str], None]) -> Callable[[], None]:
        return lambda: None  # no other process writes, so no event is ever missed

    # -- connections and transactions ---------------------------------------------------

    @contextlib.contextmanager
    def read(self) -> Iterator[Session]:
        with self._lock:
            try:
                yield SQLiteSession(self._conn)
            except sqlite3.IntegrityError:
                raise
            except (sqlite3.OperationalError, sqlite3.ProgrammingError, _CORRUPT) as exc:
                raise StoreUnavailableError(str(exc)) from None

    def write(self, lease: bool = False, synced: bool = True) -> contextlib.AbstractContextManager[Session]:
        return self._tx(synced)

    def transaction(
        self, lease: bool = False, synced: bool = True
    ) -> contextlib.AbstractContextManager[Session]:
        return self._tx(synced)

    def _must_sync(self, synced: bool) -> bool:
        return self.sync == "all" or (self.sync == "accepted" and synced)

    def _sync(self) -> None:
        """Flush the WAL to the disk: what synchronous=FULL does at each commit, once for
        all that was committed since."""
        try:
            fd = os.open(self._wal, os.O_RDONLY | os.O_CLOEXEC)
            try:
                os.fdatasync(fd)
            finally:
                os.close(fd)
        except OSError as exc:  # committed all the same: see StoreSyncError
            raise StoreSyncError(f"{self._wal}: {exc.strerror}") from None

    @contextlib.contextmanager
    def _batch(self) -> Iterator[None]:
        """One transaction around several method calls, made on this thread (group commit:
        one sync of the disk for all). Each call's writes are a savepoint of their own: a
        call that fails is undone alone. Nothing is committed before the batch ends. The
        transaction begins with the first write: a batch of reads takes no write lock."""
        with self._lock, self._unavailable_on_error():
            self._batch_thread, self._batch_synced = threading.get_ident(), False
            try:
                yield
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise
            finally:
                self._batch_thread = None
            if self._conn.in_transaction:
                self._conn.execute("COMMIT")
            if self._batch_synced:
                self._sync()

    @contextlib.contextmanager
    def _tx(self, synced: bool) -> Iterator[Session]:
        """One write transaction, taken at once (IMMEDIATE), committed or rolled back whole;
        within a batch, a savepoint of it, or, the batch's first write, its beginning."""
        must_sync = self._must_sync(synced)
        if self._batch_thread == threading.get_ident():
            if self._conn.in_transaction:
                with self._savepoint():
                    yield SQLiteSession(self._conn)
            else:  # the batch's first write begins it: undone whole, it undoes only this
                with self._unavailable_on_error():
                    self._conn.execute("BEGIN IMMEDIATE")
                    try:
                        yield SQLiteSession(self._conn)
                    except BaseException:
                        if self._conn.in_transaction:
                            self._conn.execute("ROLLBACK")
                        raise
            self._batch_synced |= must_sync
            return
        with self._lock, self._unavailable_on_error():
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield SQLiteSession(self._conn)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
            if must_sync:
                self._sync()

    @contextlib.contextmanager
    def _savepoint(self) -> Iterator[None]:
        with self._unavailable_on_error():
            self._conn.execute("SAVEPOINT call")
            try:
                yield
            except BaseException:
                self._conn.execute("ROLLBACK TO call")
                self._conn.execute("RELEASE call")
                raise
            self._conn.execute("RELEASE call")

    @contextlib.contextmanager
    def _unavailable_on_error(self) -> Iterator[None]:
        """sqlite3's operational errors (disk full, I/O error, locked) as StoreUnavailableError."""
        try:
            yield
        except sqlite3.IntegrityError:
            raise  # a constraint we rely on, not an unavailable store
        except (sqlite3.OperationalError, sqlite3.ProgrammingError, _CORRUPT) as exc:
            if self._conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    self._conn.execute("ROLLBACK")
            raise StoreUnavailableError(str(exc)) from None

    def _migrate(self) -> list[int]:
        """The migrations this open applied (``connectord migrate`` reports them)."""
        applied: list[int] = []
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
                applied.append(version)
        return applied


class SQLiteStore(Store):
    """The store in one SQLite file (created and migrated if need be)."""

    db: SQLite

    def __init__(self, path: Path, sync: StoreSync = "accepted") -> None:
        super().__init__(SQLite(path, sync))
        self.path = path
