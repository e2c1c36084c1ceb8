"""Job definitions and jobs in SQLite.

The ``jobs`` table is also the scheduler's ledger: a unique (definition, slot) key means a
slot is recorded once, whoever fires it, and ``fire`` moves a definition's next slot and
adds its ledger rows in one transaction, so a restart neither loses nor repeats a slot.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol, cast

import msgspec

from connectord.runtime.store.columns import (
    BIND_UNBOUND,
    DEFINITION_COLUMNS,
    FINAL_SQL,
    JOB_COLUMNS,
    NEW_JOB_COLUMNS,
    UNBOUND_TYPES,
    new_job_args,
    placeholders,
)
from connectord.runtime.store.records import (
    ClaimedJob,
    ConflictError,
    DefinitionRecord,
    Fire,
    JobRecord,
    JobStatus,
    NewJob,
    ended_attempt,
    refuse_nul_definition,
    refuse_nul_job,
    with_attempt,
)

#: A job of a definition with overlap 'queue' waits while another of its jobs runs.
_RUNNABLE = """status = 'WAITING' AND run_at <= ? AND NOT (overlap = 'queue' AND EXISTS (
                   SELECT 1 FROM jobs AS other WHERE other.definition_id = jobs.definition_id
                   AND other.status = 'STARTED'))"""


class _Connected(Protocol):
    def _tx(self) -> AbstractContextManager[sqlite3.Connection]: ...

    def _read(self) -> AbstractContextManager[sqlite3.Connection]: ...


def _definition(row: Sequence[object] | None) -> DefinitionRecord | None:
    return DefinitionRecord(*row) if row else None  # type: ignore[arg-type]


def _job(row: Sequence[object] | None) -> JobRecord | None:
    return JobRecord(*row) if row else None  # type: ignore[arg-type]


def _insert_job(conn: sqlite3.Connection, job: NewJob, sealed_from_definition: bool = False) -> bool:
    """Add a job; False when its (definition, slot) is already in the ledger."""
    params = "(SELECT sealed_params FROM job_definitions WHERE id = ?)" if sealed_from_definition else "?"
    sealed: object = job.definition_id if sealed_from_definition else job.sealed_params
    cursor = conn.execute(
        f"""INSERT INTO jobs ({NEW_JOB_COLUMNS})
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, {params}, ?, ?, ?, ?, ?, x'5b5d', ?, ?)
            ON CONFLICT (definition_id, scheduled_for) DO NOTHING""",
        new_job_args(job, sealed),
    )
    return cursor.rowcount == 1


class JobsSQL:
    # -- definitions --------------------------------------------------------------------

    def add_definition(self: _Connected, record: DefinitionRecord) -> None:
        """Add a definition; ConflictError when the tenant already has one with its code."""
        refuse_nul_definition(record)
        try:
            with self._tx() as conn:
                conn.execute(
                    f"INSERT INTO job_definitions ({DEFINITION_COLUMNS}) "
                    f"VALUES ({placeholders(DEFINITION_COLUMNS, '?')})",
                    msgspec.structs.astuple(record),
                )
        except sqlite3.IntegrityError:
            raise ConflictError(f"a job definition with code '{record.code}' exists already") from None

    def definition(self: _Connected, tenant_id: str, code: str) -> DefinitionRecord | None:
        with self._read() as conn:
            row = conn.execute(
                f"SELECT {DEFINITION_COLUMNS} FROM job_definitions WHERE tenant_id = ? AND code = ?",
                (tenant_id, code),
            ).fetchone()
        return _definition(row)

    def definitions_by_id(self: _Connected, ids: Sequence[str]) -> list[DefinitionRecord]:
        found: list[DefinitionRecord] = []
        with self._read() as conn:
            for start in range(0, len(ids), 500):  # SQLite caps the number of parameters
                chunk = ids[start : start + 500]
                marks = ", ".join("?" * len(chunk))
                rows = conn.execute(
                    f"SELECT {DEFINITION_COLUMNS} FROM job_definitions WHERE id IN ({marks})", chunk
                ).fetchall()
                found.extend(DefinitionRecord(*row) for row in rows)
        return found

    def definitions(self: _Connected, tenant_id: str, limit: int, offset: int) -> list[DefinitionRecord]:
        with self._read() as conn:
            rows = conn.execute(
                f"""SELECT {DEFINITION_COLUMNS} FROM job_definitions WHERE tenant_id = ?
                    ORDER BY code LIMIT ? OFFSET ?""",
                (tenant_id, limit, offset),
            ).fetchall()
        return [DefinitionRecord(*row) for row in rows]

    def replace_definition(self: _Connected, record: DefinitionRecord, expected_version: int) -> bool:
        """Store a changed definition (``record.version`` is the new one) if it is still at
        ``expected_version``; False when it changed or went meanwhile."""
        refuse_nul_definition(record)
        with self._tx() as conn:
            cursor = conn.execute(
                """UPDATE job_definitions
                   SET job_type = ?, state = ?, document = ?, sealed_params = ?, next_fire_at = ?,
                       version = ?, history_count = ?, history_seconds = ?, updated_at = ?,
                       connector = ?,
                       sealed_webhooks = ?
                   WHERE id = ? AND version = ?""",
                (
                    record.job_type,
                    record.state,
                    record.document,
                    record.sealed_params,
                    record.next_fire_at,
                    record.version,
                    record.history_count,
                    record.history_seconds,
                    record.updated_at,
                    record.connector,
                    record.sealed_webhooks,
                    record.id,
                    expected_version,
                ),
            )
        return cursor.rowcount == 1

    def delete_definition(self: _Connected, tenant_id: str, code: str, now: float) -> str | None:
        """Delete a definition and cancel its jobs that have not started; its history stays.
        The deleted definition's id, or None when there was none."""
        with self._tx() as conn:
            row = conn.execute(
                "DELETE FROM job_definitions WHERE tenant_id = ? AND code = ? RETURNING id",
                (tenant_id, code),
            ).fetchone()
            if row is None:
                return None
            conn.execute(
                """UPDATE jobs SET status = 'CANCELLED', finished_at = ?, sealed_params = NULL
                   WHERE definition_id = ? AND status = 'WAITING'""",
                (now, row[0]),
            )
        return str(row[0])

    def bind_job_types(self: _Connected, owners: Mapping[str, str]) -> int:
        """Bind the definitions and unfinished jobs that have no connector yet (stored
        before connectord recorded it) to their job type's owner in ``owners`` (job type:
        connector); how many rows were bound. Bound rows are left alone."""
        with self._read() as conn:
            unbound = {str(row[0]) for row in conn.execute(UNBOUND_TYPES).fetchall()}
        owned = [(connector, job_type) for job_type, connector in owners.items() if job_type in unbound]
        if not owned:
            return 0
        bound = 0
        with self._tx() as conn:
            for statement in BIND_UNBOUND:
                for connector, job_type in owned:
                    bound += conn.execute(statement.format("?"), (connector, job_type)).rowcount
        return bound

    def scheduled_definitions(self: _Connected) -> list[tuple[float, str, int]]:
        """(next fire, id, version) of every started definition that will fire again."""
        with self._read() as conn:
            rows = conn.execute(
                """SELECT next_fire_at, id, version FROM job_definitions
                   WHERE state = 'STARTED' AND next_fire_at IS NOT NULL"""
            ).fetchall()
        return [(float(at), str(i), int(v)) for at, i, v in rows]

    def fire(self: _Connected, fires: Sequence[Fire], now: float) -> list[NewJob]:
        """Apply the scheduler's decisions in one transaction; the ledger rows added (a
        definition that changed meanwhile is left alone). A WAITING row of a definition
        with overlap 'skip' whose previous job has not finished is recorded as SKIPPED."""
        added: list[NewJob] = []
        for job in (job for fire in fires for job in fire.jobs):
            refuse_nul_job(job)
        with self._tx() as conn:
            for fire in fires:
                cursor = conn.execute(
                    """UPDATE job_definitions SET next_fire_at = ?, state = ?
                       WHERE id = ? AND version = ? AND state = 'STARTED' AND next_fire_at IS ?""",
                    (fire.next_fire_at, fire.state, fire.definition_id, fire.version, fire.slot),
                )
                if cursor.rowcount != 1:
                    continue
                # Whether an earlier run is unfinished is decided once per fire: the slots
                # one fire catches up on (fireAll) do not skip each other.
                busy = _busy(conn, fire.definition_id)
                for job in fire.jobs:
                    if job.status == "WAITING" and job.overlap == "skip" and busy:
                        job = msgspec.structs.replace(job, status="SKIPPED", run_at=None)
                    if _insert_job(conn, job, sealed_from_definition=job.status == "WAITING"):
                        added.append(job)
        return added

    # -- jobs ---------------------------------------------------------------------------

    def add_job(self: _Connected, job: NewJob) -> bool:
        refuse_nul_job(job)
        with self._tx() as conn:
            return _insert_job(conn, job)

    def add_definition_job(self: _Connected, job: NewJob) -> bool:
        """Add a run of a definition with the definition's current params; False when the
        definition is gone."""
        refuse_nul_job(job)
        with self._tx() as conn:
            exists = conn.execute("SELECT 1 FROM job_definitions WHERE id = ?", (job.definition_id,))
            if exists.fetchone() is None:
                return False
            return _insert_job(conn, job, sealed_from_definition=True)

    def job(self: _Connected, tenant_id: str, job_id: str) -> JobRecord | None:
        with self._read() as conn:
            row = conn.execute(
                f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = ? AND tenant_id = ?", (job_id, tenant_id)
            ).fetchone()
        return _job(row)

    def jobs(
        self: _Connected,
        tenant_id: str,
        limit: int,
        offset: int,
        definition_code: str | None = None,
        status: str | None = None,
        since: float | None = None,
    ) -> list[JobRecord]:
        """A tenant's jobs, newest first, optionally of one definition, in one status, or
        created at or after ``since``."""
        where = ["tenant_id = ?"]
        args: list[object] = [tenant_id]
        for column, value, op in (
            ("definition_code", definition_code, "="),
            ("status", status, "="),
            ("created_at", since, ">="),
        ):
            if value is not None:
                where.append(f"{column} {op} ?")
                args.append(value)
        with self._read() as conn:
            rows = conn.execute(
                f"""SELECT {JOB_COLUMNS} FROM jobs WHERE {" AND ".join(where)}
                    ORDER BY created_at DESC, id LIMIT ? OFFSET ?""",
                (*args, limit, offset),
            ).fetchall()
        return [JobRecord(*row) for row in rows]

    def claim_job(self: _Connected, now: float, node: str, lease_until: float) -> ClaimedJob | None:
        """Take the job that is due first and mark it STARTED on ``node`` until
        ``lease_until``, counting an attempt, with a new fencing token."""
        with self._tx() as conn:
            row = conn.execute(
                f"""UPDATE jobs SET status = 'STARTED', attempt = attempt + 1,
                                    started_at = coalesce(started_at, ?), claimed_by = ?,
                                    lease_until = ?, fence = fence + 1
                    WHERE id = (SELECT id FROM jobs WHERE {_RUNNABLE} ORDER BY run_at, created_at LIMIT 1)
                    RETURNING {JOB_COLUMNS}, sealed_params, fence""",
                (now, node, lease_until, now),
            ).fetchone()
        if row is None:
            return None
        sealed = bytes(row[-2]) if row[-2] is not None else b""
        return ClaimedJob(JobRecord(*row[:-2]), sealed, int(row[-1]))

    def next_job_due(self: _Connected) -> float | None:
        """When the earliest waiting job may run (it may still wait for its turn)."""
        with self._read() as conn:
            row = conn.execute("SELECT min(run_at) FROM jobs WHERE status = 'WAITING'").fetchone()
        return float(row[0]) if row and row[0] is not None else None

    def retry_job(self: _Connected, job_id: str, fence: int, attempts: bytes, run_at: float) -> bool:
        """A failed attempt of a job STARTED under claim ``fence``: it waits until
        ``run_at`` for the next one."""
        with self._tx() as conn:
            cursor = conn.execute(
                """UPDATE jobs SET status = 'WAITING', attempts = ?, run_at = ?, claimed_by = NULL,
                                   lease_until = NULL
                   WHERE id = ? AND status = 'STARTED' AND fence = ?""",
                (attempts, run_at, job_id, fence),
            )
        return cursor.rowcount == 1

    def finish_job(
        self: _Connected,
        job_id: str,
        fence: int,
        status: JobStatus,
        attempts: bytes,
        result: bytes | None,
        logs: bytes | None,
        now: float,
    ) -> bool:
        """Record how a job STARTED under claim ``fence`` ended and forget its params;
        False when it is not running under that claim any more (cancelled, or requeued after
        its lease ran out)."""
        with self._tx() as conn:
            cursor = conn.execute(
                """UPDATE jobs SET status = ?, attempts = ?, result = ?, logs = ?, finished_at = ?,
                                   sealed_params = NULL, run_at = NULL, lease_until = NULL
                   WHERE id = ? AND status = 'STARTED' AND fence = ?""",
                (status, attempts, result, logs, now, job_id, fence),
            )
        return cursor.rowcount == 1

    def definitions_with_plain_webhooks(self: _Connected, empty: bytes) -> list[DefinitionRecord]:
        """Definitions stored before webhooks were sealed, with webhooks in their document:
        none sealed, and ``empty`` (how a document says "no webhooks") not in it."""
        with self._read() as conn:
            rows = conn.execute(
                f"""SELECT {DEFINITION_COLUMNS} FROM job_definitions
                    WHERE sealed_webhooks IS NULL AND instr(document, ?) = 0""",
                (empty,),
            ).fetchall()
        return [DefinitionRecord(*row) for row in rows]

    def seal_webhooks(
        self: _Connected, definition_id: str, version: int, document: bytes, sealed: bytes
    ) -> bool:
        """Keep a definition's webhooks ``sealed`` and its ``document`` without them, unless it
        changed meanwhile (no longer at ``version``, or sealed already). Its version stays:
        what it says has not changed."""
        with self._tx() as conn:
            cursor = conn.execute(
                """UPDATE job_definitions SET document = ?, sealed_webhooks = ?
                   WHERE id = ? AND version = ? AND sealed_webhooks IS NULL""",
                (document, sealed, definition_id, version),
            )
        return cursor.rowcount == 1

    def record_webhooks(self: _Connected, job_id: str, deliveries: bytes) -> bool:
        """Keep how a finished job's webhooks were delivered (JSON); False if it is gone."""
        with self._tx() as conn:
            cursor = conn.execute("UPDATE jobs SET webhooks = ? WHERE id = ?", (deliveries, job_id))
        return cursor.rowcount == 1

    def cancel_job(
        self: _Connected, tenant_id: str, job_id: str, now: float, error: dict[str, Any]
    ) -> JobStatus | None:
        """Cancel a job that waits (for its slot, its turn or a retry) or runs: CANCELLED,
        under a new fence if it ran (its node can record nothing else), with ``error`` as
        the end of its running attempt. Its status before, or None if it had ended."""
        with self._tx() as conn:
            row = conn.execute(
                """SELECT status, attempt, started_at, attempts FROM jobs
                   WHERE id = ? AND tenant_id = ? AND status IN ('WAITING', 'STARTED')""",
                (job_id, tenant_id),
            ).fetchone()
            if row is None:
                return None
            status, attempt, started_at, attempts = row
            if status == "STARTED":
                attempts = with_attempt(attempts, ended_attempt(attempt, started_at, now, error))
            conn.execute(
                """UPDATE jobs SET status = 'CANCELLED', finished_at = ?, attempts = ?,
                                   sealed_params = NULL, run_at = NULL, lease_until = NULL,
                                   fence = fence + 1
                   WHERE id = ?""",
                (now, attempts, job_id),
            )
        return cast(JobStatus, status)

    def requeue_started_jobs(self: _Connected) -> int:
        """After a restart: jobs that were running run again; the interrupted attempt is
        not counted against their retries."""
        with self._tx() as conn:
            cursor = conn.execute(
                """UPDATE jobs SET status = 'WAITING', attempt = max(attempt - 1, 0),
                                   run_at = coalesce(run_at, created_at), claimed_by = NULL,
                                   lease_until = NULL, fence = fence + 1
                   WHERE status = 'STARTED'"""
            )
        return cursor.rowcount

    def purge_jobs(self: _Connected, now: float, adhoc_seconds: float) -> int:
        """Delete finished jobs beyond their definition's history limits (count and age),
        and finished ad-hoc jobs older than ``adhoc_seconds``."""
        with self._tx() as conn:
            cursor = conn.execute(
                f"""DELETE FROM jobs WHERE id IN (
                      SELECT id FROM (
                        SELECT j.id, j.created_at, d.id AS definition,
                               coalesce(d.history_count, -1) AS keep_count,
                               coalesce(d.history_seconds, ?) AS keep_seconds,
                               row_number() OVER (PARTITION BY j.definition_id
                                                  ORDER BY j.created_at DESC) AS newest
                        FROM jobs AS j LEFT JOIN job_definitions AS d ON d.id = j.definition_id
                        WHERE j.status IN {FINAL_SQL})
                      WHERE created_at < ? - keep_seconds
                         OR (definition IS NOT NULL AND newest > keep_count))""",
                (adhoc_seconds, now),
            )
        return cursor.rowcount


def _busy(conn: sqlite3.Connection, definition_id: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM jobs WHERE definition_id = ? AND status IN ('WAITING', 'STARTED') LIMIT 1",
        (definition_id,),
    ).fetchone()
    return row is not None
