"""The store: what connectord keeps, one class over either backend (its ``Dialect``).

Each concern is written once, in a module of its own: executions (executions.py), job
definitions and jobs (jobs.py), leases (leases.py), tenants, users, keys and accounts
(tenants.py); what the backends do differently is in sqlite.py and postgres.py. Its
methods are synchronous and short: the async layer runs them through a StoreRunner.
"""

from __future__ import annotations

from collections.abc import Callable

from connectord.runtime.store.dialect import Batch, Dialect
from connectord.runtime.store.executions import Executions
from connectord.runtime.store.jobs import Jobs
from connectord.runtime.store.leases import Leases
from connectord.runtime.store.records import has_nul, refuse_nul
from connectord.runtime.store.tenants import Tenants

_SETTING = "SELECT value FROM store_settings WHERE name = :name"


class Store(Executions, Jobs, Leases, Tenants):
    def __init__(self, db: Dialect) -> None:
        self.db = db

    @property
    def url(self) -> str:
        """Where the store is (without a password)."""
        return self.db.url

    @property
    def single_node(self) -> bool:
        """True when one process owns the store (SQLite): whatever is running when it
        starts was interrupted, and is requeued at once. Otherwise leases decide (``reap_*``)."""
        return self.db.single_node

    @property
    def concurrency(self) -> int:
        """How many store calls may run at once (threads of the StoreRunner)."""
        return self.db.concurrency

    @property
    def applied(self) -> list[int]:
        """The schema migrations this process applied when it opened the store."""
        return self.db.applied

    @property
    def batch(self) -> Batch | None:
        """Runs several calls in one transaction (group commit), where the backend can."""
        return self.db.batch

    @property
    def schema_version(self) -> int:
        return self.db.schema_version

    def ping(self) -> None:
        """Raise if the store cannot be used right now."""
        self.db.ping()

    def close(self) -> None:
        self.db.close()

    def database_time(self) -> float:
        """The store's clock (Unix seconds): every node's due checks use it."""
        return self.db.database_time()

    # -- events between nodes (see events.py); a single-node store has none to carry ------

    def announce(self, event: str) -> None:
        """Tell every node listening (this one included) about ``event``."""
        self.db.announce(event)

    def listen(self, callback: Callable[[str], None]) -> Callable[[], None]:
        """Call ``callback(event)`` (from another thread) for every event until the
        returned function is called."""
        return self.db.listen(callback)

    # -- what every node must agree on (the secret key's check value) ---------------------

    def setting(self, name: str) -> bytes | None:
        if has_nul(name):
            return None
        with self.db.read() as db:
            row = db.one(_SETTING, {"name": name})
        return bytes(row[0]) if row else None

    def add_setting(self, name: str, value: bytes) -> bytes:
        """Store ``value`` unless ``name`` has one; the value stored now (the first wins)."""
        refuse_nul(name=name)
        with self.db.write() as db:
            db.run(
                """INSERT INTO store_settings (name, value) VALUES (:name, :value)
                   ON CONFLICT (name) DO NOTHING""",
                {"name": name, "value": value},
            )
            # a statement of its own: it sees a row another node committed meanwhile
            row = db.one(_SETTING, {"name": name})
        assert row is not None
        return bytes(row[0])

    def put_setting(self, name: str, value: bytes) -> None:
        refuse_nul(name=name)
        with self.db.write() as db:
            db.run(
                """INSERT INTO store_settings (name, value) VALUES (:name, :value)
                   ON CONFLICT (name) DO UPDATE SET value = excluded.value""",
                {"name": name, "value": value},
            )
