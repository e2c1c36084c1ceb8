"""Leases: claimed work carries its node, a lease and a fencing token; a node renews the
leases of what it runs, gives them back when it stops, and takes back those that ran out.

With one process per SQLite file, interrupted work is requeued when the process starts
(``requeue_running``); leases still end work whose node stopped renewing them, and give
every claim a fencing token, so both backends keep one contract. On PostgreSQL, reapers on
several nodes skip what another is reaping (``{skip_locked}``): each expired claim is
reaped once, and none waits for another. Renewals and reapers use the node's lease
connection, not the pool (``Postgres.write`` says why).
"""

from __future__ import annotations

from collections.abc import Sequence

from connectord.runtime.store.dialect import Dialect
from connectord.runtime.store.records import (
    ExecutionEnd,
    Reaped,
    Renewed,
    lost_attempt,
    may_retry_lost,
    with_attempt,
)

_RENEW = {
    "executions": """UPDATE executions SET lease_until = :until
                     WHERE id {in_list:ids} AND claimed_by = :node AND state = 'running' RETURNING id""",
    "jobs": """UPDATE jobs SET lease_until = :until
               WHERE id {in_list:ids} AND claimed_by = :node AND status = 'STARTED' RETURNING id""",
}
#: Queued again under a new fence: what a claim leaves behind (see ``fence``).
_REQUEUE_EXECUTION = (
    "state = 'queued', started_at = NULL, claimed_by = NULL, lease_until = NULL, fence = fence + 1"
)
_REQUEUE_JOB = """status = 'WAITING', attempt = {greatest}(attempt - 1, 0),
                  run_at = coalesce(run_at, created_at), claimed_by = NULL, lease_until = NULL,
                  fence = fence + 1"""
_LOST_EXECUTIONS = "SELECT id FROM executions WHERE state = 'running' AND lease_until < :now"
_RETRY_LOST_JOB = """UPDATE jobs SET status = 'WAITING', attempts = :attempts, run_at = :now,
                                     claimed_by = NULL, lease_until = NULL, fence = fence + 1
                     WHERE id = :id"""
_FAIL_LOST_JOB = """UPDATE jobs SET status = 'FAILED', attempts = :attempts, finished_at = :now,
                                    sealed_params = NULL, run_at = NULL, claimed_by = NULL,
                                    lease_until = NULL, fence = fence + 1
                    WHERE id = :id"""


class Leases:
    db: Dialect

    def renew_leases(
        self, node: str, lease_until: float, executions: Sequence[str], jobs: Sequence[str]
    ) -> Renewed:
        """Extend the leases of these executions and jobs, where ``node`` still holds them;
        which. A claim the node no longer runs (its task died) is left to run out."""
        with self.db.write(lease=True, synced=False) as db:
            renewed = [
                [
                    str(row[0])
                    for row in db.all(sql, {"until": lease_until, "node": node, "ids": db.array(ids)})
                ]
                for sql, ids in ((_RENEW["executions"], executions), (_RENEW["jobs"], jobs))
            ]
        return Renewed(*renewed)

    def release_claims(self, node: str, executions: Sequence[str], jobs: Sequence[str]) -> int:
        """A node stopping gives these back: queued or waiting again at once under a new
        fence, the interrupted claim or attempt not counted; how many."""
        with self.db.write() as db:
            released = db.run(
                f"""UPDATE executions SET {_REQUEUE_EXECUTION}, claims = {{greatest}}(claims - 1, 0)
                    WHERE id {{in_list:ids}} AND claimed_by = :node AND state = 'running'""",
                {"node": node, "ids": db.array(executions)},
            )
            released += db.run(
                f"""UPDATE jobs SET {_REQUEUE_JOB}
                    WHERE id {{in_list:ids}} AND claimed_by = :node AND status = 'STARTED'""",
                {"node": node, "ids": db.array(jobs)},
            )
        return released

    def reap_executions(self, now: float, max_claims: int, crashed: ExecutionEnd) -> Reaped:
        """Running executions whose lease ended before ``now``: requeued (new fence), or
        finished with ``crashed`` once claimed ``max_claims`` times."""
        args = {"outcome": crashed.outcome, "logs": crashed.logs, "finished_at": crashed.finished_at}
        args.update(expires_at=crashed.expires_at, now=now, max_claims=max_claims)
        with self.db.transaction(lease=True) as db:
            ended = db.all(
                f"""UPDATE executions SET state = 'done', outcome = :outcome, logs = :logs,
                                          finished_at = :finished_at, expires_at = :expires_at,
                                          sealed_call = NULL, claimed_by = NULL, lease_until = NULL,
                                          outcome_kind = 'crashed'
                    WHERE id IN ({_LOST_EXECUTIONS} AND claims >= :max_claims {{skip_locked}})
                    RETURNING id""",
                args,
            )
            requeued = db.run(
                f"""UPDATE executions SET {_REQUEUE_EXECUTION}
                    WHERE id IN ({_LOST_EXECUTIONS} {{skip_locked}})""",
                args,
            )
        return Reaped(requeued, sorted(str(row[0]) for row in ended))

    def reap_jobs(self, now: float) -> Reaped:
        """STARTED jobs whose lease ended before ``now``: the lost attempt is logged
        (``lost_attempt``) and counts; WAITING again if retries are left, else FAILED."""
        retried: list[dict[str, object]] = []
        failed: list[dict[str, object]] = []
        with self.db.transaction(lease=True) as db:
            rows = db.all(
                """SELECT id, attempt, max_retries, retry_until, started_at, attempts FROM jobs
                   WHERE status = 'STARTED' AND lease_until < :now ORDER BY id {skip_locked}""",
                {"now": now},
            )
            for job_id, attempt, max_retries, retry_until, started_at, attempts in rows:
                log = with_attempt(bytes(attempts), lost_attempt(attempt, started_at, now))
                lost = retried if may_retry_lost(attempt, max_retries, retry_until, now) else failed
                lost.append({"id": job_id, "attempts": log, "now": now})
            for sql, which in ((_RETRY_LOST_JOB, retried), (_FAIL_LOST_JOB, failed)):
                if which:
                    db.many(sql, which)
        return Reaped(len(retried), [str(job["id"]) for job in failed])

    def requeue_running(self) -> int:
        """Every running execution runs again, under a new fence: for a single-node store,
        after a restart (a shared database relies on leases and ``reap_executions``)."""
        with self.db.write() as db:
            return db.run(f"UPDATE executions SET {_REQUEUE_EXECUTION} WHERE state = 'running'")

    def requeue_started_jobs(self) -> int:
        """Every STARTED job runs again under a new fence; the interrupted attempt is not
        counted against its retries (for a single-node store, after a restart; a shared
        database relies on leases and ``reap_jobs``)."""
        with self.db.write() as db:
            return db.run(f"UPDATE jobs SET {_REQUEUE_JOB} WHERE status = 'STARTED'")
