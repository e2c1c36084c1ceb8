"""What only the PostgreSQL store has. Fixtures: two store objects on one fresh database,
as two nodes, and a tenant made through the first (it replaces the contract's ``tenant``,
which would run on SQLite too)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connectord.runtime.store.postgres import PostgresStore

T0 = 1_800_000_000.0


@pytest.fixture
def nodes(pg_database: str) -> Iterator[tuple[PostgresStore, PostgresStore]]:
    a, b = PostgresStore(pg_database), PostgresStore(pg_database)
    yield a, b
    a.close()
    b.close()


@pytest.fixture
def tenant(nodes: tuple[PostgresStore, PostgresStore]) -> str:
    a, _ = nodes
    a.add_user("a@example.com", "acme", "hash-a", T0)
    principal = a.principal("hash-a")
    assert principal is not None
    return principal.tenant_id
