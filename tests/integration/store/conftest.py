"""The store's contract runs on every backend: ``store`` is an empty store of each kind
(SQLite in a temporary file; PostgreSQL in a fresh database, marked ``postgres``)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from connectord.runtime.store import Store
from connectord.runtime.store.sqlite import SQLiteStore

T0 = 1_800_000_000.0

OpenStore = Callable[[], Store]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> OpenStore:
    """Opens another store object on the same place (another node, or a reopened store)."""
    if request.param == "sqlite":
        return lambda: SQLiteStore(tmp_path / "store.sqlite3")
    from connectord.runtime.store.postgres import PostgresStore

    url: str = request.getfixturevalue("pg_database")
    return lambda: PostgresStore(url)


@pytest.fixture
def open_store(backend: OpenStore) -> Iterator[OpenStore]:
    """Open stores on the test's backend; each is closed after the test."""
    opened: list[Store] = []

    def make() -> Store:
        store = backend()
        opened.append(store)
        return store

    yield make
    for store in opened:
        with contextlib.suppress(Exception):
            store.close()


@pytest.fixture
def store(open_store: OpenStore) -> Store:
    return open_store()


@pytest.fixture
def tenant(store: Store) -> str:
    """The tenant of a user 'a@example.com' (key hash 'hash-a')."""
    return add_tenant(store, "a", "acme")


def add_tenant(store: Store, user: str, tenant: str) -> str:
    """The id of a new tenant ``tenant`` with a user '<user>@example.com' (key hash
    'hash-<user>')."""
    store.add_user(f"{user}@example.com", tenant, f"hash-{user}", T0)
    principal = store.principal(f"hash-{user}")
    assert principal is not None
    return principal.tenant_id
