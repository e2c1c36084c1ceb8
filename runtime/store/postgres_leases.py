"""Leases in PostgreSQL: renewing the claims of a node, and taking back those that ran out;
and the settings every node on the store must agree on.

Reapers on several nodes lock what they take back with ``FOR UPDATE SKIP LOCKED``: each
expired claim is reaped by one of them, and none waits for another. Renewals and reapers
use the node's lease connection, not the pool (``PostgresStore._lease_conn`` says why).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Protocol

import psycopg

from connectord.runtime.store.records import (
    Reaped,
    Renewed,
    has_nul,
    lost_attempt,
    may_retry_lost,
    refuse_nul,
    with_attempt,
)


class _Connected(Protocol):
    def _conn(self) -> AbstractContextManager[psycopg.Connection]: ...

    def _tx(self) -> AbstractContextManager[psycopg.Connection]: ...

    def _lease_conn(self) -> AbstractContextManager[psycopg.Connection]: ...

    def _lease_tx(self) -> AbstractContextManager[psycopg.Connection]: ...


class LeasesPG:
    def setting(self: _Connected, name: str) -> bytes | None:
        if has_nul(name):
            return None
        with self._conn() as conn:
            row = conn.execute("SELECT value FROM store_settings WHERE name = %s", (name,)).fetchone()
        return bytes(row[0]) if row else None

    def put_setting(self: _Connected, name: str, value: bytes) -> None:
        refuse_nul(name=name)
        with self._conn() as conn:
            conn.execute(
                """INSERT INTO store_settings (name, value) VALUES (%s, %s)
                   ON CONFLICT (name) DO UPDATE SET value = excluded.value""",
                (name, value),
            )

    def add_setting(self: _Connected, name: str, value: bytes) -> bytes:
        refuse_nul(name=name)
        with self._conn() as conn:
            conn.execute(
                "INSERT INTO store_settings (name, value) VALUES (%s, %s) ON CONFLICT (name) DO NOTHING",
                (name, value),
            )
            # a statement of its own: it sees a row another node committed meanwhile
            row = conn.execute("SELECT value FROM store_settings WHERE name = %s", (name,)).fetchone()
        return bytes(row[0])

    def renew_leases(
        self: _Connected, node: str, lease_until: float, executions: Sequence[str], jobs: Sequence[str]
    ) -> Renewed:
        """Extend the leases of the executions and jobs ``node`` still runs; which (one
        statement). A claim of the node's that it no longer runs is left to run out."""
        with self._lease_conn() as conn:
            row = conn.execute(
                """WITH executions AS (
                       UPDATE executions SET lease_until = %s
                       WHERE id = ANY(%s) AND claimed_by = %s AND state = 'running' RETURNING id),
                   jobs AS (
                       UPDATE jobs SET lease_until = %s
                       WHERE id = ANY(%s) AND claimed_by = %s AND status = 'STARTED' RETURNING id)
                   SELECT array(SELECT id FROM executions), array(SELECT id FROM jobs)""",
                (lease_until, list(executions), node, lease_until, list(jobs), node),
            ).fetchone()
        return Renewed(list(row[0]), list(row[1])) if row else Renewed([], [])

    def release_claims(self: _Connected, node: str, executions: Sequence[str], jobs: Sequence[str]) -> int:
        """A node stopping gives back what it runs: queued or waiting again at once (new
        fence), the interrupted claim or attempt not counted."""
        with self._conn() as conn:
            row = conn.execute(
                """WITH executions AS (
                       UPDATE executions SET state = 'queued', started_at = NULL, claimed_by = NULL,
                                             lease_until = NULL, fence = fence + 1,
                                             claims = greatest(claims - 1, 0)
                       WHERE id = ANY(%s) AND claimed_by = %s AND state = 'running' RETURNING 1),
                   jobs AS (
                       UPDATE jobs SET status = 'WAITING', attempt = greatest(attempt - 1, 0),
                                       run_at = coalesce(run_at, created_at), claimed_by = NULL,
                                       lease_until = NULL, fence = fence + 1
                       WHERE id = ANY(%s) AND claimed_by = %s AND status = 'STARTED' RETURNING 1)
                   SELECT (SELECT count(*) FROM executions) + (SELECT count(*) FROM jobs)""",
                (list(executions), node, list(jobs), node),
            ).fetchone()
        return int(row[0]) if row else 0

    def reap_executions(
        self: _Connected, now: float, max_claims: int, crashed: bytes, logs: bytes, expires_at: float
    ) -> Reaped:
        """Running executions whose lease ended before ``now``: requeued under a new fence,
        or finished with ``crashed`` once claimed ``max_claims`` times (one statement)."""
        with self._lease_conn() as conn:
            row = conn.execute(
                """WITH lost AS (
                       SELECT id, claims FROM executions
                       WHERE state = 'running' AND lease_until < %s
                       FOR UPDATE SKIP LOCKED),
                   ended AS (
                       UPDATE executions SET state = 'done', outcome = %s, logs = %s, finished_at = %s,
                                             expires_at = %s, sealed_call = NULL, claimed_by = NULL,
                                             lease_until = NULL, outcome_kind = 'crashed'
                       FROM lost WHERE executions.id = lost.id AND lost.claims >= %s
                       RETURNING executions.id),
                   requeued AS (
                       UPDATE executions SET state = 'queued', started_at = NULL, claimed_by = NULL,
                                             lease_until = NULL, fence = executions.fence + 1
                       FROM lost WHERE executions.id = lost.id AND lost.claims < %s
                       RETURNING 1)
                   SELECT (SELECT count(*) FROM requeued), array(SELECT id FROM ended ORDER BY id)""",
                (now, crashed, logs, now, expires_at, max_claims, max_claims),
            ).fetchone()
        if row is None:
            return Reaped(0, [])
        return Reaped(int(row[0]), [str(i) for i in row[1]])

    def reap_jobs(self: _Connected, now: float) -> Reaped:
        """STARTED jobs whose lease ended before ``now``: the lost attempt is logged and
        counts; WAITING again (new fence) if retries are left, else FAILED."""
        retried: tuple[list[str], list[bytes]] = ([], [])
        failed: tuple[list[str], list[bytes]] = ([], [])
        with self._lease_tx() as conn:
            rows = conn.execute(
                """SELECT id, attempt, max_retries, retry_until, started_at, attempts FROM jobs
                   WHERE status = 'STARTED' AND lease_until < %s
                   ORDER BY id FOR UPDATE SKIP LOCKED""",
                (now,),
            ).fetchall()
            if not rows:
                return Reaped(0, [])
            for job_id, attempt, max_retries, retry_until, started_at, attempts in rows:
                log = with_attempt(attempts, lost_attempt(attempt, started_at, now))
                ids, logs = retried if may_retry_lost(attempt, max_retries, retry_until, now) else failed
                ids.append(job_id)
                logs.append(log)
            if retried[0]:
                conn.execute(
                    """UPDATE jobs SET status = 'WAITING', attempts = lost.attempts, run_at = %s,
                                       claimed_by = NULL, lease_until = NULL, fence = jobs.fence + 1
                       FROM unnest(%s::text[], %s::bytea[]) AS lost (id, attempts)
                       WHERE jobs.id = lost.id""",
                    (now, *retried),
                )
            if failed[0]:
                conn.execute(
                    """UPDATE jobs SET status = 'FAILED', attempts = lost.attempts, finished_at = %s,
                                       sealed_params = NULL, run_at = NULL, claimed_by = NULL,
                                       lease_until = NULL, fence = jobs.fence + 1
                       FROM unnest(%s::text[], %s::bytea[]) AS lost (id, attempts)
                       WHERE jobs.id = lost.id""",
                    (now, *failed),
                )
        return Reaped(len(retried[0]), failed[0])
