"""Job definitions and jobs.

The ``jobs`` table is also the scheduler's ledger: a unique (definition, slot) key records a
slot once, whoever fires it, and ``fire`` moves a definition's next slot and adds its ledger
rows in one transaction (on PostgreSQL the definition's row stays locked meanwhile, so a
second node firing the same decision waits, then finds the slot moved), so a restart
neither loses nor repeats a slot. Claims skip rows other nodes are claiming; on PostgreSQL
a unique index lets one job of an overlap 'queue' definition run at a time (a claim that
loses that race looks again).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

import msgspec

from connectord.runtime.store.columns import assignments, columns, fields, params, values
from connectord.runtime.store.dialect import Dialect, Session
from connectord.runtime.store.records import (
    FINAL_STATUSES,
    ClaimedJob,
    ConflictError,
    DefinitionRecord,
    Fire,
    JobEnd,
    JobRecord,
    JobStatus,
    NewJob,
    ended_attempt,
    has_nul,
    refuse_nul_definition,
    refuse_nul_job,
    with_attempt,
)

_DEFINITION = columns(DefinitionRecord)
#: What a definition's replacement changes: all but who it is and when it was made.
_REPLACE = assignments(
    DefinitionRecord,
    *(name for name in fields(DefinitionRecord) if name not in ("id", "tenant_id", "code", "created_at")),
)
_JOB = columns(JobRecord)
_JOB_FIELDS = len(fields(JobRecord))
_JOB_BY_ID = f"SELECT {_JOB} FROM jobs WHERE id = :id AND tenant_id = :tenant_id"
_FINAL = "(" + ", ".join(f"'{status}'" for status in FINAL_STATUSES) + ")"
_UNFINISHED = "status IN ('WAITING', 'STARTED')"
#: A job starts with an empty attempt log (a JSON list).
_NO_ATTEMPTS = b"[]"
_ADD_JOB = f"""INSERT INTO jobs ({columns(NewJob)}, attempts) VALUES ({values(NewJob)}, :attempts)
               ON CONFLICT (definition_id, scheduled_for) DO NOTHING"""
#: The same, with the definition's current params.
_DEFINITION_PARAMS = "(SELECT sealed_params FROM job_definitions WHERE id = :definition_id)"
_ADD_DEFINITION_JOB = f"""INSERT INTO jobs ({columns(NewJob)}, attempts)
                          VALUES ({values(NewJob, sealed_params=_DEFINITION_PARAMS)}, :attempts)
                          ON CONFLICT (definition_id, scheduled_for) DO NOTHING"""
#: A job of a definition with overlap 'queue' waits while another of its jobs runs.
_RUNNABLE = """candidate.status = 'WAITING' AND candidate.run_at <= :now
               AND NOT (candidate.overlap = 'queue' AND EXISTS (
                   SELECT 1 FROM jobs AS other WHERE other.definition_id = candidate.definition_id
                   AND other.status = 'STARTED'))"""
#: Fair across tenants: the due job of the tenant with the fewest jobs running goes first
#: (then the earliest due), and a tenant holding ``:tenant_cap`` of this node's jobs waits
#: for others: one tenant's 120 slow jobs held another's quick one 95 s when jobs were
#: taken by due time alone, every slot of the node theirs.
_CLAIM = f"""UPDATE jobs SET status = 'STARTED', attempt = attempt + 1,
                             started_at = coalesce(started_at, :now), claimed_by = :node,
                             lease_until = :lease_until, fence = fence + 1
             WHERE id = (SELECT candidate.id FROM jobs AS candidate
                         LEFT JOIN (SELECT tenant_id, count(*) AS running,
                                           sum(CASE WHEN claimed_by = :node THEN 1 ELSE 0 END) AS here
                                    FROM jobs WHERE status = 'STARTED' GROUP BY tenant_id) AS busy
                                ON busy.tenant_id = candidate.tenant_id
                         WHERE {_RUNNABLE} AND coalesce(busy.here, 0) < :tenant_cap
                         ORDER BY coalesce(busy.running, 0), candidate.run_at, candidate.created_at
                         LIMIT 1 {{skip_locked_of:candidate}})
             RETURNING {_JOB}, sealed_params, fence"""
#: A claim that lost the race for a 'queue' definition to another node looks again, at most
#: this many times (each loss means another job has started meanwhile).
_CLAIM_ATTEMPTS = 5
#: The job types of the definitions and unfinished jobs not bound to a connector yet:
#: read first, so that a store with none (as every one is after its first start) takes no
#: write lock and works read-only.
_UNBOUND_TYPES = f"""SELECT job_type FROM job_definitions WHERE connector IS NULL UNION
                     SELECT job_type FROM jobs WHERE connector IS NULL AND {_UNFINISHED}"""
_BUSY = f"SELECT 1 FROM jobs WHERE definition_id = :id AND {_UNFINISHED} LIMIT 1"
_BIND_UNBOUND = (
    "UPDATE job_definitions SET connector = :connector WHERE connector IS NULL AND job_type = :job_type",
    f"""UPDATE jobs SET connector = :connector
        WHERE connector IS NULL AND job_type = :job_type AND {_UNFINISHED}""",
)


def add_job(db: Session, job: NewJob, sealed_from_definition: bool = False) -> bool:
    """Add a job (with its definition's params); False when its (definition, slot) is
    already in the ledger."""
    return (
        db.run(
            _ADD_DEFINITION_JOB if sealed_from_definition else _ADD_JOB, params(job, attempts=_NO_ATTEMPTS)
        )
        == 1
    )


def _busy(db: Session, definition_id: str) -> bool:
    return db.one(_BUSY, {"id": definition_id}) is not None


def _definition(row: Sequence[Any] | None) -> DefinitionRecord | None:
    return DefinitionRecord(*row) if row else None


class Jobs:
    db: Dialect

    # -- definitions --------------------------------------------------------------------

    def add_definition(self, record: DefinitionRecord) -> None:
        """Add a definition; ConflictError when the tenant already has one with its code."""
        refuse_nul_definition(record)
        try:
            with self.db.write() as db:
                db.run(
                    f"INSERT INTO job_definitions ({_DEFINITION}) VALUES ({values(DefinitionRecord)})",
                    params(record),
                )
        except self.db.integrity_error:
            raise ConflictError(f"a job definition with code '{record.code}' exists already") from None

    def definition(self, tenant_id: str, code: str) -> DefinitionRecord | None:
        if has_nul(tenant_id, code):
            return None
        with self.db.read() as db:
            row = db.one(
                f"SELECT {_DEFINITION} FROM job_definitions WHERE tenant_id = :tenant_id AND code = :code",
                {"tenant_id": tenant_id, "code": code},
            )
        return _definition(row)

    def definitions_by_id(self, ids: Sequence[str]) -> list[DefinitionRecord]:
        wanted = [i for i in ids if not has_nul(i)]
        if not wanted:
            return []
        with self.db.read() as db:
            rows = db.all(
                f"SELECT {_DEFINITION} FROM job_definitions WHERE id {{in_list:ids}}",
                {"ids": db.array(wanted)},
            )
        return [DefinitionRecord(*row) for row in rows]

    def definitions(self, tenant_id: str, limit: int, offset: int) -> list[DefinitionRecord]:
        if has_nul(tenant_id):
            return []
        with self.db.read() as db:
            rows = db.all(
                f"""SELECT {_DEFINITION} FROM job_definitions WHERE tenant_id = :tenant_id
                    ORDER BY code LIMIT :limit OFFSET :offset""",
                {"tenant_id": tenant_id, "limit": limit, "offset": offset},
            )
        return [DefinitionRecord(*row) for row in rows]

    def replace_definition(self, record: DefinitionRecord, expected_version: int) -> bool:
        """Store a changed definition (``record.version`` is the new one) if it is still at
        ``expected_version``; False when it changed or went meanwhile."""
        if has_nul(record.id):
            return False
        refuse_nul_definition(record)
        with self.db.write() as db:
            return (
                db.run(
                    f"UPDATE job_definitions SET {_REPLACE} WHERE id = :id AND version = :expected_version",
                    params(record, expected_version=expected_version),
                )
                == 1
            )

    def delete_definition(self, tenant_id: str, code: str, now: float) -> str | None:
        """Delete a definition and cancel its jobs that have not started; its history stays.
        The deleted definition's id, or None when there was none."""
        if has_nul(tenant_id, code):
            return None
        # Two statements: on PostgreSQL the delete waits for a fire or run-now holding the
        # row, and the cancel then sees (with a snapshot of its own) the jobs they added.
        with self.db.transaction() as db:
            row = db.one(
                "DELETE FROM job_definitions WHERE tenant_id = :tenant_id AND code = :code RETURNING id",
                {"tenant_id": tenant_id, "code": code},
            )
            if row is None:
                return None
            db.run(
                """UPDATE jobs SET status = 'CANCELLED', finished_at = :now, sealed_params = NULL
                   WHERE definition_id = :id AND status = 'WAITING'""",
                {"now": now, "id": row[0]},
            )
        return str(row[0])

    def bind_job_types(self, owners: Mapping[str, str]) -> int:
        """Bind the definitions and unfinished jobs that have no connector yet (stored
        before connectord recorded it) to their job type's owner in ``owners`` (job type:
        connector); how many rows were bound. Bound rows are left alone."""
        with self.db.read() as db:
            unbound = {str(row[0]) for row in db.all(_UNBOUND_TYPES)}
        owned = [{"connector": c, "job_type": t} for t, c in owners.items() if t in unbound]
        if not owned:
            return 0
        bound = 0
        with self.db.transaction() as db:
            for statement in _BIND_UNBOUND:
                for args in owned:
                    bound += db.run(statement, args)
        return bound

    def scheduled_definitions(self) -> list[tuple[float, str, int]]:
        """(next fire, id, version) of every started definition that will fire again."""
        with self.db.read() as db:
            rows = db.all(
                """SELECT next_fire_at, id, version FROM job_definitions
                   WHERE state = 'STARTED' AND next_fire_at IS NOT NULL"""
            )
        return [(float(at), str(i), int(v)) for at, i, v in rows]

    def fire(self, fires: Sequence[Fire], now: float) -> list[NewJob]:
        """Apply the scheduler's decisions in one transaction; the ledger rows added (a
        definition that changed meanwhile, or that another node fired first, is left alone).
        A WAITING row of a definition with overlap 'skip' whose previous job has not
        finished is recorded as SKIPPED."""
        for fire in fires:
            for job in fire.jobs:
                refuse_nul_job(job)
        added: dict[int, list[NewJob]] = {}
        # Definitions are locked in one order (by id), so two nodes firing overlapping
        # decisions wait for each other instead of deadlocking.
        order = sorted(range(len(fires)), key=lambda i: fires[i].definition_id)
        with self.db.transaction() as db:
            for index in order:
                fire = fires[index]
                moved = db.run(
                    """UPDATE job_definitions SET next_fire_at = :next_fire_at, state = :state
                       WHERE id = :definition_id AND version = :version AND state = 'STARTED'
                         AND next_fire_at {is} :slot""",
                    params(fire),
                )
                if moved != 1:
                    continue
                # Whether an earlier run is unfinished is decided once per fire: the slots
                # one fire catches up on (fireAll) do not skip each other.
                busy = _busy(db, fire.definition_id)
                for job in fire.jobs:
                    if job.status == "WAITING" and job.overlap == "skip" and busy:
                        job = msgspec.structs.replace(job, status="SKIPPED", run_at=None)
                    if add_job(db, job, sealed_from_definition=job.status == "WAITING"):
                        added.setdefault(index, []).append(job)
        return [job for index in sorted(added) for job in added[index]]

    def definitions_with_plain_webhooks(self, empty: bytes) -> list[DefinitionRecord]:
        """Definitions stored before webhooks were sealed, with webhooks in their document:
        none sealed, and ``empty`` (how a document says "no webhooks") not in it."""
        with self.db.read() as db:
            rows = db.all(
                f"""SELECT {_DEFINITION} FROM job_definitions
                    WHERE sealed_webhooks IS NULL AND {{position:document,:empty}} = 0""",
                {"empty": empty},
            )
        return [DefinitionRecord(*row) for row in rows]

    def seal_webhooks(self, definition_id: str, version: int, document: bytes, sealed: bytes) -> bool:
        """Keep a definition's webhooks ``sealed`` and its ``document`` without them, unless it
        changed meanwhile (no longer at ``version``, or sealed already). Its version stays:
        what it says has not changed."""
        with self.db.write() as db:
            return (
                db.run(
                    """UPDATE job_definitions SET document = :document, sealed_webhooks = :sealed
                       WHERE id = :id AND version = :version AND sealed_webhooks IS NULL""",
                    {"document": document, "sealed": sealed, "id": definition_id, "version": version},
                )
                == 1
            )

    # -- jobs ---------------------------------------------------------------------------

    def add_job(self, job: NewJob) -> bool:
        refuse_nul_job(job)
        with self.db.write() as db:
            return add_job(db, job)

    def add_definition_job(self, job: NewJob) -> bool:
        """Add a run of a definition with the definition's current params; False when the
        definition is gone (it is held meanwhile: a delete waits, then cancels the run)."""
        refuse_nul_job(job)
        with self.db.transaction() as db:
            if (
                db.one("SELECT 1 FROM job_definitions WHERE id = :id {for_share}", {"id": job.definition_id})
                is None
            ):
                return False
            return add_job(db, job, sealed_from_definition=True)

    def job(self, tenant_id: str, job_id: str) -> JobRecord | None:
        if has_nul(tenant_id, job_id):
            return None
        with self.db.read() as db:
            row = db.one(_JOB_BY_ID, {"id": job_id, "tenant_id": tenant_id})
        return JobRecord(*row) if row else None

    def jobs(
        self,
        tenant_id: str,
        limit: int,
        offset: int,
        *,
        definition_code: str | None = None,
        status: str | None = None,
        since: float | None = None,
    ) -> list[JobRecord]:
        """A tenant's jobs, newest first, optionally of one definition, in one status, or
        created at or after ``since``."""
        if has_nul(tenant_id, definition_code, status):
            return []
        where = ["tenant_id = :tenant_id"]
        for column, value, op in (
            ("definition_code", definition_code, "="),
            ("status", status, "="),
            ("created_at", since, ">="),
        ):
            if value is not None:
                where.append(f"{column} {op} :{column}")
        args = {"tenant_id": tenant_id, "limit": limit, "offset": offset}
        args.update(definition_code=definition_code, status=status, created_at=since)
        with self.db.read() as db:
            rows = db.all(
                f"""SELECT {_JOB} FROM jobs WHERE {" AND ".join(where)}
                    ORDER BY created_at DESC, id LIMIT :limit OFFSET :offset""",
                args,
            )
        return [JobRecord(*row) for row in rows]

    def claim_job(
        self, now: float, node: str, lease_until: float, tenant_cap: int = 2**31
    ) -> ClaimedJob | None:
        """Take the due job whose turn it is (see ``_CLAIM``: ``tenant_cap`` is what one
        tenant may hold of ``node``'s jobs) and mark it STARTED on ``node`` until
        ``lease_until``, counting an attempt, with a new fencing token."""
        args = {"now": now, "node": node, "lease_until": lease_until, "tenant_cap": tenant_cap}
        for _ in range(_CLAIM_ATTEMPTS):
            try:
                with self.db.write(synced=False) as db:
                    row = db.one(_CLAIM, args)
            except self.db.integrity_error:
                continue  # another node started a job of this 'queue' definition first
            if row is None:
                return None
            sealed = row[_JOB_FIELDS]
            return ClaimedJob(
                JobRecord(*row[:_JOB_FIELDS]), bytes(sealed) if sealed is not None else b"", int(row[-1])
            )
        return None

    def next_job_due(self) -> float | None:
        """When the earliest waiting job may run (it may still wait for its turn)."""
        with self.db.read() as db:
            row = db.one("SELECT min(run_at) FROM jobs WHERE status = 'WAITING'")
        return float(row[0]) if row and row[0] is not None else None

    def retry_job(self, job_id: str, fence: int, attempts: bytes, run_at: float) -> bool:
        """A failed attempt of a job STARTED under claim ``fence``: it waits until
        ``run_at`` for the next one."""
        with self.db.write(synced=False) as db:
            return (
                db.run(
                    """UPDATE jobs SET status = 'WAITING', attempts = :attempts, run_at = :run_at,
                                       claimed_by = NULL, lease_until = NULL
                       WHERE id = :id AND status = 'STARTED' AND fence = :fence""",
                    {"attempts": attempts, "run_at": run_at, "id": job_id, "fence": fence},
                )
                == 1
            )

    def finish_job(self, job_id: str, fence: int, end: JobEnd) -> bool:
        """Record how a job STARTED under claim ``fence`` ended and forget its params;
        False when it is not running under that claim any more (cancelled, or requeued
        after its lease ran out). The node that ran it stays recorded."""
        with self.db.write(synced=False) as db:
            return (
                db.run(
                    """UPDATE jobs SET status = :status, attempts = :attempts, result = :result,
                                       logs = :logs, finished_at = :finished_at, sealed_params = NULL,
                                       run_at = NULL, lease_until = NULL
                       WHERE id = :id AND status = 'STARTED' AND fence = :fence""",
                    params(end, id=job_id, fence=fence),
                )
                == 1
            )

    def record_webhooks(self, job_id: str, deliveries: bytes) -> bool:
        """Keep how a finished job's webhooks were delivered (JSON); False if it is gone."""
        with self.db.write(synced=False) as db:
            return (
                db.run(
                    "UPDATE jobs SET webhooks = :deliveries WHERE id = :id",
                    {"deliveries": deliveries, "id": job_id},
                )
                == 1
            )

    def cancel_job(self, tenant_id: str, job_id: str, now: float, error: dict[str, Any]) -> JobStatus | None:
        """Cancel a job that waits (for its slot, its turn or a retry) or runs: CANCELLED,
        under a new fence if it ran (its node can record nothing else), with ``error`` as
        the end of its running attempt. Its status before, or None if it had ended."""
        if has_nul(tenant_id, job_id):
            return None
        with self.db.transaction() as db:
            row = db.one(
                f"""SELECT status, attempt, started_at, attempts FROM jobs
                    WHERE id = :id AND tenant_id = :tenant_id AND {_UNFINISHED} {{for_update}}""",
                {"id": job_id, "tenant_id": tenant_id},
            )
            if row is None:
                return None
            status, attempt, started_at, attempts = row
            if status == "STARTED":
                attempts = with_attempt(bytes(attempts), ended_attempt(attempt, started_at, now, error))
            db.run(
                """UPDATE jobs SET status = 'CANCELLED', finished_at = :now, attempts = :attempts,
                                   sealed_params = NULL, run_at = NULL, lease_until = NULL,
                                   fence = fence + 1
                   WHERE id = :id""",
                {"now": now, "attempts": attempts, "id": job_id},
            )
        return cast(JobStatus, status)

    def purge_jobs(self, now: float, adhoc_seconds: float) -> int:
        """Delete finished jobs beyond their definition's history limits (count and age),
        and finished ad-hoc jobs older than ``adhoc_seconds``."""
        with self.db.write(synced=False) as db:
            return db.run(
                f"""DELETE FROM jobs WHERE id IN (
                      SELECT id FROM (
                        SELECT j.id, j.created_at, d.id AS definition,
                               coalesce(d.history_count, -1) AS keep_count,
                               coalesce(d.history_seconds, :adhoc_seconds) AS keep_seconds,
                               row_number() OVER (PARTITION BY j.definition_id
                                                  ORDER BY j.created_at DESC) AS newest
                        FROM jobs AS j LEFT JOIN job_definitions AS d ON d.id = j.definition_id
                        WHERE j.status IN {_FINAL}) AS finished
                      WHERE created_at < :now - keep_seconds
                         OR (definition IS NOT NULL AND newest > keep_count))""",
                {"adhoc_seconds": adhoc_seconds, "now": now},
            )
