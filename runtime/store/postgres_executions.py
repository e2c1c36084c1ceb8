"""Scheduled executions in PostgreSQL: a queue that several nodes claim from at once
(``FOR UPDATE SKIP LOCKED``), fenced finishes, results delivered exactly once.

Claim, finish and deliver are one statement each (one round trip in autocommit)."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol

import psycopg

from connectord.runtime.store.execution_listing import INFO_COLUMNS, info, listing_query
from connectord.runtime.store.records import (
    ClaimedExecution,
    ExecutionAbout,
    ExecutionFilter,
    ExecutionInfo,
    ExecutionRecord,
    FinishedExecution,
    StoreUnavailableError,
    has_nul,
    refuse_nul,
)

_COLUMNS = "id, tenant_id, state, created_at, expires_at, request_hash"
#: Inserting with an idempotency key races another node's insert at most this many times.
_IDEMPOTENT_ATTEMPTS = 5


class _Connected(Protocol):
    def _conn(self) -> AbstractContextManager[psycopg.Connection]: ...

    def _tx(self) -> AbstractContextManager[psycopg.Connection]: ...


class ExecutionsPG:
    def add_execution(
        self: _Connected,
        execution_id: str,
        tenant_id: str,
        sealed_call: bytes,
        now: float,
        idempotency_key: str | None = None,
        request_hash: str | None = None,
        cache_key: str | None = None,
        cache_seconds: float | None = None,
        about: ExecutionAbout | None = None,
    ) -> tuple[ExecutionRecord, bool]:
        """Queue an execution, committed before this returns. With an idempotency key
        already used by the tenant, nothing is added: the existing execution is returned
        with ``False`` (two nodes adding one key at once: one adds, the other gets it)."""
        refuse_nul(
            id=execution_id,
            tenant=tenant_id,
            idempotency_key=idempotency_key,
            request_hash=request_hash,
            cache_key=cache_key,
        )
        added = ExecutionRecord(execution_id, tenant_id, "queued", now, None, request_hash), True
        args = (
            execution_id,
            tenant_id,
            sealed_call,
            idempotency_key,
            request_hash,
            now,
            cache_key,
            cache_seconds,
            *_about(about),
        )
        insert = """INSERT INTO executions (id, tenant_id, state, sealed_call, idempotency_key,
                                            request_hash, created_at, cache_key, cache_seconds,
                                           component, execution_type, action)
                    VALUES (%s, %s, 'queued', %s, %s, %s, %s, %s, %s, %s, %s, %s)"""
        with self._conn() as conn:
            if idempotency_key is None:
                conn.execute(insert, args)
                return added
            for _ in range(_IDEMPOTENT_ATTEMPTS):
                cursor = conn.execute(
                    f"{insert} ON CONFLICT (tenant_id, idempotency_key) DO NOTHING RETURNING id", args
                )
                if cursor.fetchone() is not None:
                    return added
                # Taken: the other insert has committed (ON CONFLICT waited for it), so this
                # statement, with a snapshot of its own, sees it (unless purged meanwhile).
                row = conn.execute(
                    f"SELECT {_COLUMNS} FROM executions WHERE tenant_id = %s AND idempotency_key = %s",
                    (tenant_id, idempotency_key),
                ).fetchone()
                if row is not None:
                    return ExecutionRecord(*row), False
        raise StoreUnavailableError(f"Idempotency-Key '{idempotency_key}' keeps changing; try again")

    def execution(self: _Connected, tenant_id: str, execution_id: str) -> ExecutionRecord | None:
        if has_nul(tenant_id, execution_id):
            return None
        with self._conn() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM executions WHERE id = %s AND tenant_id = %s",
                (execution_id, tenant_id),
            ).fetchone()
        return ExecutionRecord(*row) if row else None

    def execution_info(self: _Connected, tenant_id: str, execution_id: str) -> ExecutionInfo | None:
        """An execution's status and metadata; its result stays where it is."""
        if has_nul(tenant_id, execution_id):
            return None
        with self._conn() as conn:
            row = conn.execute(
                f"SELECT {INFO_COLUMNS} FROM executions WHERE id = %s AND tenant_id = %s",
                (execution_id, tenant_id),
            ).fetchone()
        return info(row) if row else None

    def list_executions(
        self: _Connected, tenant_id: str, wanted: ExecutionFilter, now: float, limit: int, offset: int
    ) -> list[ExecutionInfo]:
        """A page of the tenant's executions that match ``wanted``, newest first."""
        if has_nul(tenant_id, *(v for v in (wanted.component, wanted.kind) if v is not None)):
            return []
        sql, args = listing_query(tenant_id, wanted, now, limit, offset, "%s")
        with self._conn() as conn:
            rows = conn.execute(sql, args).fetchall()
        return [info(row) for row in rows]

    def queue_depth(self: _Connected, now: float) -> tuple[int, int]:
        """How much work waits: queued executions, and jobs due that wait for a runner."""
        with self._conn() as conn:
            row = conn.execute(
                """SELECT (SELECT count(*) FROM executions WHERE state = 'queued'),
                          (SELECT count(*) FROM jobs WHERE status = 'WAITING' AND run_at <= %s)""",
                (now,),
            ).fetchone()
        return (int(row[0]), int(row[1])) if row else (0, 0)

    def claim_execution(
        self: _Connected, now: float, node: str, lease_until: float
    ) -> ClaimedExecution | None:
        """Take the oldest queued execution and mark it running on ``node`` until
        ``lease_until``, with a new fencing token. Rows other nodes are claiming are
        skipped, not waited for."""
        with self._conn() as conn:
            row = conn.execute(
                """UPDATE executions SET state = 'running', started_at = %s, claimed_by = %s,
                                         lease_until = %s, fence = fence + 1, claims = claims + 1
                   WHERE id = (SELECT id FROM executions WHERE state = 'queued'
                               ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED)
                   RETURNING id, tenant_id, sealed_call, fence, cache_key, cache_seconds, component,
                             execution_type""",
                (now, node, lease_until),
            ).fetchone()
        return ClaimedExecution(*row) if row else None

    def finish_execution(
        self: _Connected,
        execution_id: str,
        fence: int,
        outcome: bytes,
        logs: bytes,
        now: float,
        expires_at: float,
        outcome_kind: str | None = None,
    ) -> bool:
        """Record the outcome of a running execution and forget its inputs (credentials
        included); False when it is not running under this claim any more (cancelled, or
        requeued after its lease ran out). The node that ran it stays recorded."""
        with self._conn() as conn:
            cursor = conn.execute(
                """UPDATE executions SET state = 'done', outcome = %s, logs = %s, finished_at = %s,
                                         expires_at = %s, sealed_call = NULL, lease_until = NULL,
                                         outcome_kind = %s
                   WHERE id = %s AND state = 'running' AND fence = %s""",
                (outcome, logs, now, expires_at, outcome_kind, execution_id, fence),
            )
        return cursor.rowcount == 1

    def deliver_result(
        self: _Connected, tenant_id: str, execution_id: str, now: float
    ) -> FinishedExecution | None:
        """Hand out a finished, unexpired result exactly once: the row is locked, marked
        delivered and emptied in one statement, which returns what it held; a second reader
        (on any node) waits for the lock and then finds it delivered."""
        if has_nul(tenant_id, execution_id):
            return None
        with self._conn() as conn:
            row = conn.execute(
                """WITH found AS (
                       SELECT id, outcome, logs FROM executions
                       WHERE id = %s AND tenant_id = %s AND state = 'done' AND expires_at > %s
                       FOR UPDATE)
                   UPDATE executions SET state = 'delivered', outcome = NULL, logs = NULL
                   FROM found WHERE executions.id = found.id
                   RETURNING found.id, found.outcome, found.logs""",
                (execution_id, tenant_id, now),
            ).fetchone()
        return FinishedExecution(*row) if row else None

    def cached_outcome(self: _Connected, tenant_id: str, cache_key: str, now: float) -> bytes | None:
        if has_nul(tenant_id, cache_key):
            return None
        with self._conn() as conn:
            row = conn.execute(
                """SELECT outcome FROM result_cache
                   WHERE tenant_id = %s AND cache_key = %s AND expires_at > %s""",
                (tenant_id, cache_key, now),
            ).fetchone()
        return bytes(row[0]) if row else None

    def add_answered_execution(
        self: _Connected,
        execution_id: str,
        tenant_id: str,
        outcome: bytes,
        logs: bytes,
        now: float,
        expires_at: float,
        about: ExecutionAbout | None = None,
    ) -> ExecutionRecord:
        """An execution answered at once (from the cache): nothing to run."""
        refuse_nul(id=execution_id, tenant=tenant_id)
        with self._conn() as conn:
            conn.execute(
                """INSERT INTO executions (id, tenant_id, state, outcome, logs, created_at,
                                           finished_at, expires_at, component, execution_type, action,
                                           outcome_kind)
                   VALUES (%s, %s, 'done', %s, %s, %s, %s, %s, %s, %s, %s, 'succeeded')""",
                (execution_id, tenant_id, outcome, logs, now, now, expires_at, *_about(about)),
            )
        return ExecutionRecord(execution_id, tenant_id, "done", now, expires_at, None)

    def cache_outcome(
        self: _Connected, tenant_id: str, cache_key: str, outcome: bytes, expires_at: float
    ) -> None:
        refuse_nul(tenant=tenant_id, cache_key=cache_key)
        with self._conn() as conn:
            conn.execute(
                """INSERT INTO result_cache (tenant_id, cache_key, outcome, expires_at)
                   VALUES (%s, %s, %s, %s)
                   ON CONFLICT (tenant_id, cache_key) DO UPDATE
                   SET outcome = excluded.outcome, expires_at = excluded.expires_at""",
                (tenant_id, cache_key, outcome, expires_at),
            )

    def cancel_execution(
        self: _Connected,
        tenant_id: str,
        execution_id: str,
        outcome: bytes,
        logs: bytes,
        now: float,
        expires_at: float,
    ) -> bool:
        if has_nul(tenant_id, execution_id):
            return False
        with self._conn() as conn:
            cursor = conn.execute(
                """UPDATE executions SET state = 'done', outcome = %s, logs = %s, finished_at = %s,
                                         expires_at = %s, sealed_call = NULL, lease_until = NULL,
                                         fence = fence + 1, outcome_kind = 'cancelled'
                   WHERE id = %s AND tenant_id = %s AND state IN ('queued', 'running')""",
                (outcome, logs, now, expires_at, execution_id, tenant_id),
            )
        return cursor.rowcount == 1

    def requeue_running(self: _Connected) -> int:
        """Everything running runs again, under a new fence (for a single-node store, after
        a restart; a shared database relies on leases and ``reap_executions`` instead)."""
        with self._conn() as conn:
            cursor = conn.execute(
                """UPDATE executions SET state = 'queued', started_at = NULL, claimed_by = NULL,
                                         lease_until = NULL, fence = fence + 1
                   WHERE state = 'running'"""
            )
        return cursor.rowcount

    def purge_executions(self: _Connected, now: float, keep_delivered: float) -> int:
        """Delete delivered executions older than ``keep_delivered`` seconds and expired
        results (their ids then answer 404 'Result does not exist.'), and expired cache."""
        with self._conn() as conn:
            row = conn.execute(
                """WITH gone AS (
                       DELETE FROM executions
                       WHERE (state = 'delivered' AND finished_at < %s)
                          OR (state = 'done' AND expires_at < %s)
                       RETURNING 1),
                   cache AS (DELETE FROM result_cache WHERE expires_at < %s)
                   SELECT count(*) FROM gone""",
                (now - keep_delivered, now - keep_delivered, now),
            ).fetchone()
        return int(row[0]) if row else 0


def _about(about: ExecutionAbout | None) -> tuple[str | None, str | None, str | None]:
    return (None, None, None) if about is None else (about.component, about.kind, about.action)
