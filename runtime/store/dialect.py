"""What the store's concerns need from a database, so that each is written once for both
backends (sqlite.py, postgres.py).

Queries are written once: ``:name`` parameters (a backend translates them to its own style)
and, where the backends' SQL truly differs, ``{fragment}`` markers each backend fills in:

==========================  ==============================  ===================================
fragment                    SQLite                          PostgreSQL
==========================  ==============================  ===================================
``{skip_locked}``           (nothing: one writer)           ``FOR UPDATE SKIP LOCKED`` (claims)
``{skip_locked_of:t}``      (nothing)                       ``FOR UPDATE OF t SKIP LOCKED``
``{for_update}``            (nothing)                       ``FOR UPDATE``
``{for_share}``             (nothing)                       ``FOR SHARE``
``{greatest}``              ``max``                         ``greatest``
``{is}``                    ``IS``                          ``IS NOT DISTINCT FROM``
``{in_list:name}``          ``IN (… json_each(:name))``     ``= ANY(:name)`` (see ``array``)
``{position:hay,needle}``   ``instr(hay, needle)``          ``position(needle IN hay)`` (bytes)
``{first_queued:e}``        ``e``: each tenant's first      the same, through
                            ``:window`` queued executions   ``JOIN LATERAL``
                            (``IN`` a correlated subquery;
                            the tenants: ``queued_tenants``)
==========================  ==============================  ===================================

A backend opens connections in three ways: ``read`` (no write), ``write`` (statements each
atomic; SQLite runs them in one transaction, PostgreSQL one round trip each in autocommit)
and ``transaction`` (several statements, all or nothing).
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar, Protocol


def queued_tenants(index_hint: str = "") -> str:
    """The tenants with queued executions (``heads``), for ``{first_queued}``: one index
    seek per tenant, each for the next tenant after the last in the partial index
    executions_queued_by_tenant, not a scan of every queued row: a claim costs the same
    behind a queue of any length. ``index_hint``: SQLite's planner, without statistics,
    would take the (state, created_at) index and sort the whole queue at each step."""
    queued = f"FROM executions x {index_hint} WHERE x.state = 'queued'"
    return (
        "(WITH RECURSIVE t(tenant_id) AS ("
        f"SELECT (SELECT x.tenant_id {queued} ORDER BY x.tenant_id LIMIT 1) "
        f"UNION ALL SELECT (SELECT x.tenant_id {queued} AND x.tenant_id > t.tenant_id "
        "ORDER BY x.tenant_id LIMIT 1) FROM t WHERE t.tenant_id IS NOT NULL) "
        "SELECT tenant_id FROM t WHERE tenant_id IS NOT NULL) heads"
    )


Row = tuple[Any, ...]
Params = Mapping[str, object]
#: A context manager around several calls of a store that can batch them (group commit).
Batch = Callable[[], contextlib.AbstractContextManager[None]]


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Row | None: ...

    def fetchall(self) -> Sequence[Row]: ...


class ManyCursor(Protocol):
    def executemany(self, query: str, params: Iterable[Params], /) -> object: ...


class Connection(Protocol):
    """What both drivers' connections (sqlite3, psycopg) offer."""

    def execute(self, query: str, params: Params, /) -> Cursor: ...

    def cursor(self) -> ManyCursor: ...


class Fragment(str):
    """A piece of SQL a backend fills in for ``{name}``; with arguments (``{name:a,b}``),
    they replace ``{0}``, ``{1}``… in it."""

    def __format__(self, spec: str) -> str:
        return self.format(*spec.split(",")) if spec else str(self)


class Session(ABC):
    """A connection within one of its backend's transactions, running queries written once."""

    #: What the backend fills in for each ``{fragment}``.
    fragments: ClassVar[Mapping[str, Fragment]]
    #: How many queued rows other nodes may be claiming while this one claims (skipped, not
    #: waited for): a claim looks that much further down each tenant's queue.
    claimed_elsewhere: ClassVar[int] = 0

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    @classmethod
    @abstractmethod
    def render(cls, query: str) -> str:
        """``query`` in the backend's SQL: fragments filled in, parameters in its style."""

    @abstractmethod
    def array(self, values: Sequence[str]) -> object:
        """``values`` as the parameter of an ``{in_list:…}``."""

    @abstractmethod
    def take(self, table: str, columns: str, where: str, change: str, params: Params) -> Row | None:
        """The row of ``table`` that ``where`` finds (``columns``, the first its ``id``), as it
        was before ``change`` (``SET …``) was applied to it, in one step no other
        transaction can come between; None when there is none."""

    def run(self, query: str, params: Params | None = None) -> int:
        """Run a statement; how many rows it changed."""
        return self._conn.execute(self.render(query), params or {}).rowcount

    def one(self, query: str, params: Params | None = None) -> Row | None:
        return self._conn.execute(self.render(query), params or {}).fetchone()

    def all(self, query: str, params: Params | None = None) -> list[Row]:
        return list(self._conn.execute(self.render(query), params or {}).fetchall())

    def many(self, query: str, params: Iterable[Params]) -> None:
        """Run a statement once for each of ``params``."""
        self._conn.cursor().executemany(self.render(query), params)


class Dialect(ABC):
    """A backend: its connections and transactions, migrations and events."""

    url: str
    #: True when one process owns the store (SQLite): whatever is running when it starts
    #: was interrupted, and is requeued at once. Otherwise leases decide (``reap_*``).
    single_node: bool
    #: How many store calls may run at once (threads of the StoreRunner).
    concurrency: int
    #: The schema migrations this process applied when it opened the store.
    applied: list[int]
    #: What the driver raises when a write breaks a constraint (a unique key taken).
    integrity_error: type[Exception]
    #: Several calls in one transaction (group commit), if the backend can.
    batch: Batch | None = None
    #: How many transactions the store ran so far, if the backend counts them itself (where
    #: the runner cannot: PostgreSQL, a transaction per statement in autocommit).
    transactions: Callable[[], int] | None = None

    @abstractmethod
    def read(self) -> contextlib.AbstractContextManager[Session]:
        """A connection to read from."""

    @abstractmethod
    def write(self, lease: bool = False, synced: bool = True) -> contextlib.AbstractContextManager[Session]:
        """A connection to write with, each statement atomic on its own (SQLite: all of them
        in one transaction). ``lease``: on the node's lease connection, where the backend
        keeps one apart (renewals and reapers). ``synced``: see :meth:`transaction`."""

    @abstractmethod
    def transaction(
        self, lease: bool = False, synced: bool = True
    ) -> contextlib.AbstractContextManager[Session]:
        """A connection in one transaction, committed or rolled back whole.

        ``synced=False`` is for commits that acknowledge nothing to a client (a claim, an
        outcome, a delivery): they are written before the method returns, so a killed
        process loses none of them, but they reach the disk with the next synced commit
        (SQLite, per the store's ``sync`` setting). A power loss may undo the latest of
        them, never leave the store inconsistent: a call runs again, a result can be read
        again. What a client was told was accepted is always synced first."""

    @property
    def schema_version(self) -> int:
        with self.read() as db:
            row = db.one("SELECT coalesce(max(version), 0) FROM schema_migrations")
        return int(row[0]) if row else 0

    def ping(self) -> None:
        """Raise if the store cannot be used right now."""
        with self.read() as db:
            db.one("SELECT 1")

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def database_time(self) -> float:
        """The store's clock (Unix seconds): every node's due checks use it."""

    @abstractmethod
    def announce(self, event: str) -> None:
        """Tell every node listening (this one included) about ``event``."""

    @abstractmethod
    def listen(self, callback: Callable[[str], None]) -> Callable[[], None]:
        """Call ``callback(event)`` (from another thread) for every event until the
        returned function is called."""
