"""Scheduled executions in SQLite: a queue, its claims, results delivered exactly once."""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager
from typing import Protocol

from connectord.runtime.store.execution_listing import INFO_COLUMNS, info, listing_query
from connectord.runtime.store.records import (
    ClaimedExecution,
    ExecutionAbout,
    ExecutionFilter,
    ExecutionInfo,
    ExecutionRecord,
    FinishedExecution,
    refuse_nul,
)

_COLUMNS = "id, tenant_id, state, created_at, expires_at, request_hash"


class _Connected(Protocol):
    def _tx(self) -> AbstractContextManager[sqlite3.Connection]: ...

    def _read(self) -> AbstractContextManager[sqlite3.Connection]: ...


class ExecutionsSQL:
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
        with ``False``."""
        refuse_nul(
            id=execution_id,
            tenant=tenant_id,
            idempotency_key=idempotency_key,
            request_hash=request_hash,
            cache_key=cache_key,
        )
        with self._tx() as conn:
            if idempotency_key is not None:
                row = conn.execute(
                    f"SELECT {_COLUMNS} FROM executions WHERE tenant_id = ? AND idempotency_key = ?",
                    (tenant_id, idempotency_key),
                ).fetchone()
                if row:
                    return ExecutionRecord(*row), False
            conn.execute(
                """INSERT INTO executions (id, tenant_id, state, sealed_call, idempotency_key,
                                           request_hash, created_at, cache_key, cache_seconds,
                                           component, execution_type, action)
                   VALUES (?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (
                    execution_id,
                    tenant_id,
                    sealed_call,
                    idempotency_key,
                    request_hash,
                    now,
                    cache_key,
                    cache_seconds,
                    *_about(about),
                ),
            )
        return ExecutionRecord(execution_id, tenant_id, "queued", now, None, request_hash), True

    def execution(self: _Connected, tenant_id: str, execution_id: str) -> ExecutionRecord | None:
        with self._read() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM executions WHERE id = ? AND tenant_id = ?",
                (execution_id, tenant_id),
            ).fetchone()
        return ExecutionRecord(*row) if row else None

    def execution_info(self: _Connected, tenant_id: str, execution_id: str) -> ExecutionInfo | None:
        """An execution's status and metadata; its result stays where it is."""
        with self._read() as conn:
            row = conn.execute(
                f"SELECT {INFO_COLUMNS} FROM executions WHERE id = ? AND tenant_id = ?",
                (execution_id, tenant_id),
            ).fetchone()
        return info(row) if row else None

    def list_executions(
        self: _Connected, tenant_id: str, wanted: ExecutionFilter, now: float, limit: int, offset: int
    ) -> list[ExecutionInfo]:
        """A page of the tenant's executions that match ``wanted``, newest first."""
        sql, args = listing_query(tenant_id, wanted, now, limit, offset, "?")
        with self._read() as conn:
            rows = conn.execute(sql, args).fetchall()
        return [info(row) for row in rows]

    def queue_depth(self: _Connected, now: float) -> tuple[int, int]:
        """How much work waits: queued executions, and jobs due that wait for a runner."""
        with self._read() as conn:
            row = conn.execute(
                """SELECT (SELECT count(*) FROM executions WHERE state = 'queued'),
                          (SELECT count(*) FROM jobs WHERE status = 'WAITING' AND run_at <= ?)""",
                (now,),
            ).fetchone()
        return (int(row[0]), int(row[1])) if row else (0, 0)

    def claim_execution(
        self: _Connected, now: float, node: str, lease_until: float
    ) -> ClaimedExecution | None:
        """Take the oldest queued execution and mark it running on ``node`` until
        ``lease_until``, with a new fencing token."""
        with self._tx() as conn:
            row = conn.execute(
                """UPDATE executions SET state = 'running', started_at = ?, claimed_by = ?,
                                         lease_until = ?, fence = fence + 1, claims = claims + 1
                   WHERE id = (SELECT id FROM executions WHERE state = 'queued'
                               ORDER BY created_at LIMIT 1)
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
        requeued after its lease ran out)."""
        with self._tx() as conn:
            cursor = conn.execute(
                """UPDATE executions SET state = 'done', outcome = ?, logs = ?, finished_at = ?,
                                         expires_at = ?, sealed_call = NULL, lease_until = NULL,
                                         outcome_kind = ?
                   WHERE id = ? AND state = 'running' AND fence = ?""",
                (outcome, logs, now, expires_at, outcome_kind, execution_id, fence),
            )
        return cursor.rowcount == 1

    def deliver_result(
        self: _Connected, tenant_id: str, execution_id: str, now: float
    ) -> FinishedExecution | None:
        """Hand out a finished, unexpired result exactly once: the same transaction marks it
        delivered and drops it, so no second reader (or node) can get it."""
        with self._tx() as conn:  # the write lock is held from here: no one else can read it
            row = conn.execute(
                """SELECT id, outcome, logs FROM executions
                   WHERE id = ? AND tenant_id = ? AND state = 'done' AND expires_at > ?""",
                (execution_id, tenant_id, now),
            ).fetchone()
            if row is None:
                return None
            conn.execute(
                "UPDATE executions SET state = 'delivered', outcome = NULL, logs = NULL WHERE id = ?",
                (execution_id,),
            )
        return FinishedExecution(*row)

    def cached_outcome(self: _Connected, tenant_id: str, cache_key: str, now: float) -> bytes | None:
        with self._read() as conn:
            row = conn.execute(
                "SELECT outcome FROM result_cache WHERE tenant_id = ? AND cache_key = ? AND expires_at > ?",
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
        with self._tx() as conn:
            conn.execute(
                """INSERT INTO executions (id, tenant_id, state, outcome, logs, created_at,
                                           finished_at, expires_at, component, execution_type, action,
                                           outcome_kind)
                   VALUES (?, ?, 'done', ?, ?, ?, ?, ?, ?, ?, ?, 'succeeded')""",
                (execution_id, tenant_id, outcome, logs, now, now, expires_at, *_about(about)),
            )
        return ExecutionRecord(execution_id, tenant_id, "done", now, expires_at, None)

    def cache_outcome(
        self: _Connected, tenant_id: str, cache_key: str, outcome: bytes, expires_at: float
    ) -> None:
        refuse_nul(tenant=tenant_id, cache_key=cache_key)
        with self._tx() as conn:
            conn.execute(
                """INSERT INTO result_cache (tenant_id, cache_key, outcome, expires_at) VALUES (?, ?, ?, ?)
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
        with self._tx() as conn:
            cursor = conn.execute(
                """UPDATE executions SET state = 'done', outcome = ?, logs = ?, finished_at = ?,
                                         expires_at = ?, sealed_call = NULL, lease_until = NULL,
                                         fence = fence + 1, outcome_kind = 'cancelled'
                   WHERE id = ? AND tenant_id = ? AND state IN ('queued', 'running')""",
                (outcome, logs, now, expires_at, execution_id, tenant_id),
            )
        return cursor.rowcount == 1

    def requeue_running(self: _Connected) -> int:
        """After a restart: what was running when the process died runs again."""
        with self._tx() as conn:
            cursor = conn.execute(
                """UPDATE executions SET state = 'queued', started_at = NULL, claimed_by = NULL,
                                         lease_until = NULL, fence = fence + 1
                   WHERE state = 'running'"""
            )
        return cursor.rowcount

    def purge_executions(self: _Connected, now: float, keep_delivered: float) -> int:
        """Delete delivered executions older than ``keep_delivered`` seconds and expired
        results (their ids then answer 404 'Result does not exist.')."""
        with self._tx() as conn:
            cursor = conn.execute(
                """DELETE FROM executions
                   WHERE (state = 'delivered' AND finished_at < ?)
                      OR (state = 'done' AND expires_at < ?)""",
                (now - keep_delivered, now - keep_delivered),
            )
            conn.execute("DELETE FROM result_cache WHERE expires_at < ?", (now,))
        return cursor.rowcount


def _about(about: ExecutionAbout | None) -> tuple[str | None, str | None, str | None]:
    return (None, None, None) if about is None else (about.component, about.kind, about.action)
