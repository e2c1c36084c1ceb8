"""What to do when a definition's slot is due, and when a failed job runs again. Pure
functions of the definition, the stored record and an explicit ``now``.

Misfires: when a definition is found with slots in the past (the server was down, or
stopped), the slots older than ``misfireWindowSeconds`` are recorded as MISSED. Of those
within the window, ``fireOnce`` (the default) runs the latest and records the others as
MISSED; ``fireAll`` runs every one of them, oldest first.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from dataclasses import dataclass

from connectord.runtime.jobs.definitions import Definition
from connectord.runtime.store.records import DefinitionRecord, Fire, JobRecord, JobStatus, NewJob

#: At most this many past slots are recorded one by one; beyond, the scheduler jumps to
#: the misfire window and logs how many it skipped.
MAX_BACKLOG = 1000
#: Retries wait at most this long, however many attempts came before.
MAX_BACKOFF = 3600.0


@dataclass(frozen=True)
class Plan:
    fire: Fire
    #: Past slots neither run nor recorded (beyond MAX_BACKLOG).
    unrecorded: int = 0


def dated_id(now: float) -> str:
    """An id in seed 003's job id shape: the UTC date, then a UUID (20240302-f3eb6180-...);
    jobs and definitions get them."""
    day = dt.datetime.fromtimestamp(now, dt.UTC).strftime("%Y%m%d")
    return f"{day}-{uuid.uuid4()}"


def plan_fire(record: DefinitionRecord, definition: Definition, now: float) -> Plan:
    """The ledger rows and the next slot for a STARTED definition whose slot has come."""
    assert record.next_fire_at is not None
    due, unrecorded, following = _due_slots(definition, record.next_fire_at, now)
    spec = definition.spec
    window_start = now - spec.misfire_window_seconds
    runnable = [s for s in due if s >= window_start]
    if spec.misfire_policy == "fireOnce":
        runnable = runnable[-1:]
    if spec.run_once:
        runnable = runnable[:1]
    jobs = [
        _ledger_row(record, definition, slot, "WAITING" if slot in runnable else "MISSED", now, following)
        for slot in due
        if not (spec.run_once and runnable and slot > runnable[0])
    ]
    done = following is None or (spec.run_once and bool(runnable))
    return Plan(
        Fire(
            definition_id=record.id,
            version=record.version,
            slot=record.next_fire_at,
            next_fire_at=None if done else following,
            state="COMPLETED" if done else "STARTED",
            jobs=jobs,
        ),
        unrecorded,
    )


def _due_slots(definition: Definition, first: float, now: float) -> tuple[list[float], int, float | None]:
    """The slots from ``first`` up to ``now`` (at most MAX_BACKLOG, the latest kept), how
    many earlier ones were left out, and the first slot after ``now``."""
    due = [first]
    unrecorded = 0
    slot: float | None = first
    while slot is not None:
        slot = definition.slot_after(slot)
        if slot is None or slot > now:
            return due, unrecorded, slot
        if len(due) >= MAX_BACKLOG:
            # Jump near the window instead of walking (an every-second schedule a week late).
            jump_from = max(slot, now - definition.spec.misfire_window_seconds - 1.0)
            unrecorded += len(due)
            due = []
            slot = definition.slot_after(jump_from)
            if slot is None or slot > now:
                return due, unrecorded, slot
        due.append(slot)
    return due, unrecorded, None


def _ledger_row(
    record: DefinitionRecord,
    definition: Definition,
    slot: float,
    status: JobStatus,
    now: float,
    following: float | None,
) -> NewJob:
    return NewJob(
        id=dated_id(now),
        tenant_id=record.tenant_id,
        job_type=record.job_type,
        trigger="schedule",
        status=status,
        created_at=now,
        definition_id=record.id,
        definition_code=record.code,
        account_id=definition.spec.account_id,
        scheduled_for=slot,
        overlap=definition.spec.overlap,
        max_retries=definition.spec.max_retries,
        backoff=definition.spec.retry_backoff_seconds,
        timeout=definition.spec.timeout_seconds,
        run_at=slot if status == "WAITING" else None,
        retry_until=following,
        connector=record.connector,
    )


def retry_at(job: JobRecord, now: float, rng: random.Random) -> float | None:
    """When a failed attempt runs again: never beyond the retries allowed, nor at or past
    the definition's next slot (that slot's job takes over)."""
    if job.attempt > job.max_retries:
        return None
    at = now + retry_delay(job.backoff, job.attempt, rng)
    if job.retry_until is not None and at >= job.retry_until:
        return None
    return at


def retry_delay(backoff: float, attempt: int, rng: random.Random) -> float:
    """Exponential backoff with jitter: ``backoff · 2^(attempt-1)``, capped, times a random
    factor in [0.5, 1) so that jobs failing together do not retry together."""
    return min(backoff * 2.0 ** max(attempt - 1, 0), MAX_BACKOFF) * rng.uniform(0.5, 1.0)
