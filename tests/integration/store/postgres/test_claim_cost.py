"""A claim costs the same behind a queue of any length: it finds the tenants with queued
work by one index seek each and ranks the head of each one's queue only, never reading
every queued row. Work counted (the pages PostgreSQL's plan touched), not timed."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from connectord.runtime.store.executions import _CLAIM
from connectord.runtime.store.postgres import PostgresSession, PostgresStore

pytestmark = pytest.mark.postgres
T0 = 1_800_000_000.0


def queue(database: str, tenants: list[str], count: int, after: int = 0) -> None:
    """``count`` more queued executions, newer than the ``after`` queued before them."""
    rows = [(uuid.uuid4().hex, tenants[i % len(tenants)], T0 + after + i) for i in range(count)]
    with psycopg.connect(database, autocommit=True) as conn:
        with conn.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO executions (id, tenant_id, state, sealed_call, created_at, fence, claims) "
                "VALUES (%s, %s, 'queued', 'call', %s, 0, 0)",
                rows,
            )
        conn.execute("ANALYZE executions")  # the plan a database in use would have


def pages_one_claim_touches(database: str) -> int:
    """The shared buffers (hit or read) one claim of one execution's plan touched, in a
    transaction rolled back."""
    args = {"now": T0, "node": "n", "lease_until": T0 + 60, "limit": 1, "recent": []}
    args["window"] = 1 + PostgresSession.claimed_elsewhere
    with psycopg.connect(database) as conn:
        sql = "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + PostgresSession.render(_CLAIM)
        row = conn.execute(sql, args).fetchone()
        conn.rollback()
    assert row is not None
    plan = row[0][0]["Plan"]
    return int(plan["Shared Hit Blocks"]) + int(plan["Shared Read Blocks"])


def test_a_claim_touches_as_many_pages_behind_a_long_queue_as_behind_a_short_one(
    nodes: tuple[PostgresStore, PostgresStore], pg_database: str
) -> None:
    a, _ = nodes
    tenants = []
    for name in ("a", "b", "c"):
        a.add_user(f"{name}@example.com", name, f"hash-{name}", T0)
        principal = a.principal(f"hash-{name}")
        assert principal is not None
        tenants.append(principal.tenant_id)
    queue(pg_database, tenants, 1500)  # past the window of each tenant already
    short = pages_one_claim_touches(pg_database)
    queue(pg_database, tenants, 6000, after=1500)
    long = pages_one_claim_touches(pg_database)
    # Reading every queued row (a scan of the table to join the ranking to) took 100+
    # pages more behind the longer queue.
    assert long - short < 20, (short, long)
