"""Leases in SQLite: renewing the claims of a node, and taking back those that ran out;
and the settings every process on the store must agree on.

With one process per SQLite file, interrupted work is requeued when the process starts
(``requeue_running``); leases still end work whose node stopped renewing them, and give
every claim a fencing token, so both backends keep one contract.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Protocol

from connectord.runtime.store.records import (
    Reaped,
    Renewed,
    lost_attempt,
    may_retry_lost,
    refuse_nul,
    with_attempt,
)


class _Connected(Protocol):
    def _tx(self) -> AbstractContextManager[sqlite3.Connection]: ...


class LeasesSQL:
    def setting(self: _Connected, name: str) -> bytes | None:
        with self._tx() as conn:
            row = conn.execute("SELECT value FROM store_settings WHERE name = ?", (name,)).fetchone()
        return bytes(row[0]) if row else None

    def add_setting(self: _Connected, name: str, value: bytes) -> bytes:
        refuse_nul(name=name)
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO store_settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
                (name, value),
            )
            row = conn.execute("SELECT value FROM store_settings WHERE name = ?", (name,)).fetchone()
        return bytes(row[0])

    def put_setting(self: _Connected, name: str, value: bytes) -> None:
        refuse_nul(name=name)
        with self._tx() as conn:
            conn.execute(
                """INSERT INTO store_settings (name, value) VALUES (?, ?)
                   ON CONFLICT (name) DO UPDATE SET value = excluded.value""",
                (name, value),
            )

    def renew_leases(
        self: _Connected, node: str, lease_until: float, executions: Sequence[str], jobs: Sequence[str]
    ) -> Renewed:
        renewed: tuple[list[str], list[str]] = ([], [])
        with self._tx() as conn:
            for table, state, ids, found in (
                ("executions", "state = 'running'", executions, renewed[0]),
                ("jobs", "status = 'STARTED'", jobs, renewed[1]),
            ):
                for start in range(0, len(ids), 500):  # SQLite caps the number of parameters
                    chunk = list(ids[start : start + 500])
                    marks = ", ".join("?" * len(chunk))
                    found.extend(
                        row[0]
                        for row in conn.execute(
                            f"""UPDATE {table} SET lease_until = ?
                                WHERE id IN ({marks}) AND claimed_by = ? AND {state} RETURNING id""",
                            (lease_until, *chunk, node),
                        )
                    )
        return Renewed(*renewed)

    def release_claims(self: _Connected, node: str, executions: Sequence[str], jobs: Sequence[str]) -> int:
        released = 0
        with self._tx() as conn:
            for execution_id in executions:
                released += conn.execute(
                    """UPDATE executions SET state = 'queued', started_at = NULL, claimed_by = NULL,
                                             lease_until = NULL, fence = fence + 1,
                                             claims = max(claims - 1, 0)
                       WHERE id = ? AND claimed_by = ? AND state = 'running'""",
                    (execution_id, node),
                ).rowcount
            for job_id in jobs:
                released += conn.execute(
                    """UPDATE jobs SET status = 'WAITING', attempt = max(attempt - 1, 0),
                                       run_at = coalesce(run_at, created_at), claimed_by = NULL,
                                       lease_until = NULL, fence = fence + 1
                       WHERE id = ? AND claimed_by = ? AND status = 'STARTED'""",
                    (job_id, node),
                ).rowcount
        return released

    def reap_executions(
        self: _Connected, now: float, max_claims: int, crashed: bytes, logs: bytes, expires_at: float
    ) -> Reaped:
        with self._tx() as conn:
            ended = conn.execute(
                """UPDATE executions SET state = 'done', outcome = ?, logs = ?, finished_at = ?,
                                         expires_at = ?, sealed_call = NULL, claimed_by = NULL,
                                         lease_until = NULL, outcome_kind = 'crashed'
                   WHERE state = 'running' AND lease_until < ? AND claims >= ?
                   RETURNING id""",
                (crashed, logs, now, expires_at, now, max_claims),
            ).fetchall()
            requeued = conn.execute(
                """UPDATE executions SET state = 'queued', started_at = NULL, claimed_by = NULL,
                                         lease_until = NULL, fence = fence + 1
                   WHERE state = 'running' AND lease_until < ?""",
                (now,),
            ).rowcount
        return Reaped(requeued, [str(row[0]) for row in ended])

    def reap_jobs(self: _Connected, now: float) -> Reaped:
        requeued, ended = 0, []
        with self._tx() as conn:
            rows = conn.execute(
                """SELECT id, attempt, max_retries, retry_until, started_at, attempts FROM jobs
                   WHERE status = 'STARTED' AND lease_until < ?""",
                (now,),
            ).fetchall()
            for job_id, attempt, max_retries, retry_until, started_at, attempts in rows:
                log = with_attempt(attempts, lost_attempt(attempt, started_at, now))
                if may_retry_lost(attempt, max_retries, retry_until, now):
                    conn.execute(
                        """UPDATE jobs SET status = 'WAITING', attempts = ?, run_at = ?, claimed_by = NULL,
                                           lease_until = NULL, fence = fence + 1
                           WHERE id = ?""",
                        (log, now, job_id),
                    )
                    requeued += 1
                else:
                    conn.execute(
                        """UPDATE jobs SET status = 'FAILED', attempts = ?, finished_at = ?,
                                           sealed_params = NULL, run_at = NULL, claimed_by = NULL,
                                           lease_until = NULL, fence = fence + 1
                           WHERE id = ?""",
                        (log, now, job_id),
                    )
                    ended.append(str(job_id))
        return Reaped(requeued, ended)
