"""The PostgreSQL store, for several nodes sharing one database: a pool of connections,
migrated on open, events between nodes through LISTEN/NOTIFY.

Every store call is one transaction, or statements each atomic on its own: most are a
single statement on a connection in autocommit mode (``write``: one round trip, atomic all
the same); those that need several statements at once take an explicit one
(``transaction``). Claims and reapers lock rows with ``FOR UPDATE SKIP LOCKED``,
so nodes never wait for one another's claims nor take the same row twice; fencing tokens
make a node that lost its lease unable to record anything (see records.py).

Errors: a lost or refused connection, a pool that has no connection to give in time, are
``StoreUnavailableError`` (the API answers 503 + Retry-After); after one, the pool checks
its idle connections in the background, so a restarted server costs a few failed calls,
not a restart of connectord. PostgreSQL refuses NUL characters in text: writes of such
text raise ``InvalidTextError``, lookups by such a key find nothing, as on SQLite.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from urllib.parse import unquote, urlsplit, urlunsplit

import psycopg
from psycopg_pool import ConnectionPool

from connectord.runtime.config import ConfigurationError
from connectord.runtime.store.dialect import (
    Connection,
    Dialect,
    Fragment,
    Params,
    Row,
    Session,
    queued_tenants,
)
from connectord.runtime.store.events import CHANNEL
from connectord.runtime.store.postgres_schema import MIGRATIONS, SCHEMA_MIGRATIONS
from connectord.runtime.store.records import InvalidTextError, StoreUnavailableError
from connectord.runtime.store.store import Store

log = logging.getLogger(__name__)

#: The advisory lock the nodes take while migrating (one at a time; any fixed number).
MIGRATION_LOCK = 0x636F_6E6E_6563_7464  # "connectd"
#: Seconds a connection may take to open, for the pool, migrations and listeners.
CONNECT_TIMEOUT = 5
#: A listener looks at its stop flag this often (seconds) while no notification comes.
LISTEN_POLL = 0.2
#: A listener that lost its connection tries again after this many seconds, doubling.
RECONNECT_FIRST, RECONNECT_MAX = 0.5, 5.0
#: What psycopg says about a NUL character in a text parameter (a safety net: the methods
#: check their texts before they get here).
_NUL_MESSAGE = "cannot contain NUL"
#: Errors that mean the server (or the way to it) is gone or refused us, not a bug.
_UNAVAILABLE = (
    psycopg.OperationalError,  # PoolTimeout included
    psycopg.InterfaceError,
    psycopg.errors.ReadOnlySqlTransaction,  # a standby, or a primary demoted by a failover
)


def url_secrets(url: str) -> tuple[str, ...]:
    """The password of ``url`` as written and decoded: the texts a message must not show
    (libpq quotes the piece of a URL it cannot parse)."""
    found: set[str] = set()
    if "://" in url:
        userinfo = urlsplit(url).netloc.rpartition("@")[0]
        if ":" in userinfo:
            found.add(userinfo.split(":", 1)[1])
        found.update(re.findall(r"(?:^|&)password=([^&]*)", urlsplit(url).query))
    else:
        found.update(m.strip("'") for m in re.findall(r"password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)", url))
    return tuple(sorted({*found, *(unquote(p) for p in found)} - {""}, key=len, reverse=True))


def redact_url(url: str) -> str:
    """``url`` with its password, if any, replaced by ``***``."""
    if "://" not in url:  # libpq's key=value form
        return re.sub(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", r"\1***", url)
    parts = urlsplit(url)
    netloc = parts.netloc
    userinfo, at, hosts = netloc.rpartition("@")
    if at and ":" in userinfo:
        netloc = f"{userinfo.split(':', 1)[0]}:***@{hosts}"
    query = re.sub(r"(^|&)(password=)[^&]*", r"\1\2***", parts.query)
    return urlunsplit(parts._replace(netloc=netloc, query=query))


_FRAGMENTS = {
    # claims and reapers: rows another node is taking are skipped, not waited for
    "skip_locked": Fragment("FOR UPDATE SKIP LOCKED"),
    "skip_locked_of": Fragment("FOR UPDATE OF {0} SKIP LOCKED"),
    "for_update": Fragment("FOR UPDATE"),
    "for_share": Fragment("FOR SHARE"),
    "greatest": Fragment("greatest"),
    "is": Fragment("IS NOT DISTINCT FROM"),
    "in_list": Fragment("= ANY(:{0})"),
    "position": Fragment("position({1}::bytea IN {0})"),
    # a correlated IN would be planned as a filter on every queued row; LATERAL walks the
    # partial index once per tenant
    "first_queued": Fragment(
        queued_tenants() + " "
        "CROSS JOIN LATERAL (SELECT x.id, x.tenant_id, x.created_at FROM executions x "
        "WHERE x.tenant_id = heads.tenant_id AND x.state = 'queued' ORDER BY x.created_at LIMIT :window) {0}"
    ),
}
#: A ``:name`` parameter (not a ``::type`` cast).
_PARAMETER = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


class PostgresSession(Session):
    fragments = _FRAGMENTS
    #: Two other nodes' largest claims at once (a dispatcher claims at most 64); a claim
    #: that finds fewer rows than it asked for looks again down the whole queue.
    claimed_elsewhere = 128

    def __init__(self, conn: Connection, statement: Callable[[], None] | None = None) -> None:
        """``statement``: called for each statement (in autocommit, each one a transaction)."""
        super().__init__(conn)
        self._statement = statement

    def run(self, query: str, params: Params | None = None) -> int:
        self._counted()
        return super().run(query, params)

    def one(self, query: str, params: Params | None = None) -> Row | None:
        self._counted()
        return super().one(query, params)

    def all(self, query: str, params: Params | None = None) -> list[Row]:
        self._counted()
        return super().all(query, params)

    def many(self, query: str, params: Iterable[Params]) -> None:
        self._counted()
        super().many(query, params)

    def _counted(self) -> None:
        if self._statement is not None:
            self._statement()

    @staticmethod
    @functools.lru_cache(maxsize=512)
    def render(query: str) -> str:
        filled = query.format_map(_FRAGMENTS).replace("%", "%%")
        return _PARAMETER.sub(r"%(\1)s", filled)

    def array(self, values: Sequence[str]) -> object:
        return list(values)

    def take(self, table: str, columns: str, where: str, change: str, params: Params) -> Row | None:
        # One statement: the row is locked, changed and returned as it was (one round trip);
        # a second taker waits for the lock, then finds it changed.
        found = ", ".join(f"found.{column.strip()}" for column in columns.split(","))
        return self.one(
            f"""WITH found AS (SELECT {columns} FROM {table} WHERE {where} FOR UPDATE)
                UPDATE {table} SET {change} FROM found WHERE {table}.id = found.id
                RETURNING {found}""",
            params,
        )


class Postgres(Dialect):
    #: Several nodes share the database: leases, not restarts, decide what was interrupted.
    single_node = False
    integrity_error = psycopg.IntegrityError

    def __init__(self, url: str, pool_size: int = 8, pool_timeout: float = 5.0) -> None:
        self.url = redact_url(url)
        self._conninfo = url
        self._secrets = url_secrets(url)
        #: As many store calls at once as the pool has connections.
        self.concurrency = pool_size
        self._closed = False
        self._checking = threading.Lock()
        self._listeners: set[_Listener] = set()
        self._listeners_lock = threading.Lock()
        self._lease_lock = threading.Lock()
        self._lease_connection: psycopg.Connection[Row] | None = None
        #: Transactions run so far through sessions (reads included, as PostgreSQL's own
        #: xact_commit counts them): a statement in autocommit, or a ``transaction`` block.
        self._transactions = 0
        self._tally = threading.Lock()
        self.applied = self._migrate()
        self._pool: ConnectionPool[psycopg.Connection[Row]] = ConnectionPool(
            url,
            min_size=1,
            max_size=pool_size,
            timeout=pool_timeout,
            kwargs={"autocommit": True, "connect_timeout": CONNECT_TIMEOUT},
            name="connectord-store",
            open=True,
        )

    # -- the store's life ---------------------------------------------------------------

    def close(self) -> None:
        self._closed = True
        with self._listeners_lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener.stop()
        with self._lease_lock:
            self._drop_lease_connection()
        self._pool.close()

    def database_time(self) -> float:
        with self.read() as db:
            row = db.one("SELECT extract(epoch FROM clock_timestamp())::float8")
        assert row is not None
        return float(row[0])

    # -- events between nodes -----------------------------------------------------------

    def announce(self, event: str) -> None:
        with self.read() as db:
            db.one("SELECT pg_notify(:channel, :event)", {"channel": CHANNEL, "event": event})

    def listen(self, callback: Callable[[str], None]) -> Callable[[], None]:
        """Listen on a connection of its own (not from the pool): events sent after this
        returns are seen. If the server cannot be reached now, the listener keeps trying and
        says ``reconnected`` once it can."""
        listener = _Listener(self._conninfo, self._secrets, callback, self._forget_listener)
        with self._listeners_lock:
            self._listeners.add(listener)
        listener.start()
        return listener.stop

    def _forget_listener(self, listener: _Listener) -> None:
        with self._listeners_lock:
            self._listeners.discard(listener)

    # -- connections and transactions ----------------------------------------------------

    def transactions(self) -> int:
        return self._transactions

    def _one_more(self) -> None:
        with self._tally:
            self._transactions += 1

    @contextlib.contextmanager
    def read(self) -> Iterator[Session]:
        with self.connection() as conn:
            yield PostgresSession(conn, self._one_more)

    def write(self, lease: bool = False, synced: bool = True) -> contextlib.AbstractContextManager[Session]:
        """Each statement a transaction of its own (autocommit: one round trip). ``lease``:
        the connection of this node's lease keeper, outside the pool: renewals never
        queue behind requests for a pooled connection, nor wait out the pool's reconnection
        backoff after a restart of the server, so a live node renews within one tick of the
        store coming back (its peers reap only after a whole lease of their own renewals).
        Always synced: an unsynced autocommit statement would cost a round trip more."""
        return self._session(lease, transaction=False, synced=True)

    def transaction(
        self, lease: bool = False, synced: bool = True
    ) -> contextlib.AbstractContextManager[Session]:
        return self._session(lease, transaction=True, synced=synced)

    @contextlib.contextmanager
    def _session(self, lease: bool, transaction: bool, synced: bool) -> Iterator[Session]:
        with self._lease_conn() if lease else self.connection() as conn:
            if not transaction:
                yield PostgresSession(conn, self._one_more)
                return
            self._one_more()
            with conn.transaction():
                if not synced:  # the commit does not wait for the WAL flush (see Dialect)
                    conn.execute("SET LOCAL synchronous_commit = off")
                yield PostgresSession(conn)

    @contextlib.contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Row]]:
        """A pooled connection in autocommit mode: each statement is a transaction of its
        own (one round trip). Unavailability and NUL errors are mapped to the store's."""
        with self._store_errors(self._check_pool_soon), self._pool.connection() as conn:
            yield conn

    @contextlib.contextmanager
    def _lease_conn(self) -> Iterator[psycopg.Connection[Row]]:
        """The lease keeper's connection (see ``write``), opened on first use and again
        after it broke."""
        with self._lease_lock, self._store_errors(self._drop_lease_connection):
            if self._lease_connection is None or self._lease_connection.closed:
                self._lease_connection = psycopg.connect(
                    self._conninfo, autocommit=True, connect_timeout=CONNECT_TIMEOUT
                )
            yield self._lease_connection

    def _drop_lease_connection(self) -> None:
        if self._lease_connection is not None:
            self._lease_connection.close()
            self._lease_connection = None

    @contextlib.contextmanager
    def _store_errors(self, on_unavailable: Callable[[], None]) -> Iterator[None]:
        """Map the driver's errors to the store's: unavailable (after ``on_unavailable``),
        or a NUL character in a text."""
        try:
            yield
        except _UNAVAILABLE as exc:
            on_unavailable()
            raise StoreUnavailableError(_first_line(exc, self._secrets)) from None
        except psycopg.DataError as exc:
            if _NUL_MESSAGE in str(exc):
                raise InvalidTextError("a text") from None
            raise

    def _check_pool_soon(self) -> None:
        """After a connection error the other idle connections are likely broken too (the
        server restarted): have the pool test them, in the background, one check at a time."""
        if self._closed or not self._checking.acquire(blocking=False):
            return

        def check() -> None:
            try:
                if not self._closed:
                    self._pool.check()
            except Exception as exc:  # a closed pool, a server still down: the next error retries
                log.debug("checking the store's connections failed: %s", exc)
            finally:
                self._checking.release()

        threading.Thread(target=check, name="connectord-store-check", daemon=True).start()

    def _migrate(self) -> list[int]:
        """Create or upgrade the schema: one node at a time (an advisory lock), each missing
        migration in a transaction of its own."""
        try:
            conn = psycopg.connect(self._conninfo, autocommit=True, connect_timeout=CONNECT_TIMEOUT)
        except psycopg.Error as exc:
            message = _first_line(exc, self._secrets)
            raise ConfigurationError(f"store {self.url}: cannot connect: {message}") from None
        try:
            with conn:
                return _migrate(conn, self.url)
        except psycopg.Error as exc:
            message = _first_line(exc, self._secrets)
            raise ConfigurationError(f"store {self.url}: cannot migrate: {message}") from None


class PostgresStore(Store):
    """The store in a PostgreSQL database several nodes share (created and migrated if need be)."""

    db: Postgres

    def __init__(self, url: str, pool_size: int = 8, pool_timeout: float = 5.0) -> None:
        super().__init__(Postgres(url, pool_size, pool_timeout))


def _migrate(conn: psycopg.Connection, url: str) -> list[int]:
    if _version(conn) == len(MIGRATIONS):
        return []  # up to date: no lock, no DDL (a role without CREATE rights may serve)
    conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
    try:
        conn.execute(SCHEMA_MIGRATIONS)
        row = conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
        current = int(row[0]) if row else 0
        if current > len(MIGRATIONS):
            raise ConfigurationError(
                f"store {url} has schema version {current}; this connectord knows up to "
                f"{len(MIGRATIONS)}: upgrade connectord"
            )
        applied = []
        for version in range(current + 1, len(MIGRATIONS) + 1):
            with conn.transaction():
                conn.execute(MIGRATIONS[version - 1])  # several statements: no parameters
                conn.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (version,))
            applied.append(version)
            log.info("store %s: applied migration %d", url, version)
        return applied
    finally:
        with contextlib.suppress(psycopg.Error):
            conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))


def _version(conn: psycopg.Connection) -> int | None:
    """The schema's version, or None before the first migration."""
    row = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
    if not row or not row[0]:
        return None
    found = conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
    return int(found[0]) if found else 0


def _first_line(exc: BaseException, secrets: tuple[str, ...] = ()) -> str:
    text = str(exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    for secret in secrets:
        line = line.replace(secret, "***")
    return line


class _Listener:
    """A thread with a connection of its own that LISTENs on the channel and hands each
    notification to ``callback``; after losing the server it reconnects by itself and says
    ``reconnected`` (events may have been missed meanwhile)."""

    def __init__(
        self,
        conninfo: str,
        secrets: tuple[str, ...],
        callback: Callable[[str], None],
        forget: Callable[[_Listener], None],
    ) -> None:
        self._conninfo = conninfo
        self._secrets = secrets
        self._callback = callback
        self._forget = forget
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="connectord-listen", daemon=True)
        self._first: psycopg.Connection | None = None

    def start(self) -> None:
        try:
            self._first = self._connect()
        except psycopg.Error as exc:
            log.warning("cannot listen to the store's events yet: %s; trying again", self._why(exc))
        self._thread.start()

    def stop(self) -> None:
        """End the thread (within LISTEN_POLL seconds) and close its connection."""
        self._stopping.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5 * LISTEN_POLL + CONNECT_TIMEOUT)
        self._forget(self)

    def _connect(self) -> psycopg.Connection:
        conn = psycopg.connect(
            self._conninfo,
            autocommit=True,
            connect_timeout=CONNECT_TIMEOUT,
            # a server that vanished without closing the connection is noticed too
            keepalives=1,
            keepalives_idle=10,
            keepalives_interval=5,
            keepalives_count=3,
        )
        try:
            conn.execute(f"LISTEN {CHANNEL}")
        except BaseException:
            conn.close()
            raise
        return conn

    def _run(self) -> None:
        conn, self._first = self._first, None
        delay = RECONNECT_FIRST
        if conn is None:
            self._stopping.wait(delay)
        try:
            while not self._stopping.is_set():
                if conn is None:
                    try:
                        conn = self._connect()
                    except psycopg.Error as exc:
                        delay = min(delay * 2, RECONNECT_MAX)
                        log.warning("cannot listen to the store's events: %s", self._why(exc))
                        self._stopping.wait(delay)
                        continue
                    delay = RECONNECT_FIRST
                    log.info("listening to the store's events again")
                    self._deliver("reconnected")
                try:
                    for notify in conn.notifies(timeout=LISTEN_POLL):
                        self._deliver(notify.payload)
                except psycopg.Error as exc:
                    log.warning(
                        "lost the connection listening to the store's events: %s",
                        self._why(exc),
                    )
                    conn.close()
                    conn = None
                    self._stopping.wait(delay)
        finally:
            if conn is not None:
                conn.close()

    def _why(self, exc: BaseException) -> str:
        return _first_line(exc, self._secrets)

    def _deliver(self, payload: str) -> None:
        try:
            self._callback(payload)
        except Exception:
            log.exception("a listener of the store's events failed on %r", payload)
