"""Column lists and row arguments both SQL backends share: the records' fields, in order."""

from __future__ import annotations

import msgspec

from connectord.runtime.store.records import FINAL_STATUSES, NewJob

DEFINITION_COLUMNS = (
    "id, tenant_id, code, job_type, state, document, sealed_params, next_fire_at, version, "
    "history_count, history_seconds, created_at, updated_at, connector, sealed_webhooks"
)
JOB_COLUMNS = (
    "id, tenant_id, definition_id, definition_code, job_type, account_id, trigger, scheduled_for, "
    "status, overlap, attempt, max_retries, backoff, timeout, run_at, retry_until, attempts, result, "
    "logs, created_at, started_at, finished_at, connector, webhooks"
)
#: What an insert of a NewJob sets (``attempts`` is the empty list); see ``new_job_args``.
NEW_JOB_COLUMNS = (
    "id, tenant_id, definition_id, definition_code, job_type, account_id, trigger, scheduled_for, "
    "status, overlap, sealed_params, max_retries, backoff, timeout, run_at, retry_until, attempts, "
    "created_at, connector"
)
#: Bind definitions and unfinished jobs stored before their connector was recorded to the
#: connector that owns their job type now (``bind_job_types``); ``{0}``: the placeholder.
#: The job types of the rows BIND_UNBOUND binds: read first, so that a store with none (as
#: every one is after its first start) takes no write lock and works read-only.
UNBOUND_TYPES = (
    "SELECT job_type FROM job_definitions WHERE connector IS NULL UNION "
    "SELECT job_type FROM jobs WHERE connector IS NULL AND status IN ('WAITING', 'STARTED')"
)
BIND_UNBOUND = (
    "UPDATE job_definitions SET connector = {0} WHERE connector IS NULL AND job_type = {0}",
    "UPDATE jobs SET connector = {0} WHERE connector IS NULL AND job_type = {0} "
    "AND status IN ('WAITING', 'STARTED')",
)
#: ``(...)`` of the final statuses, for ``status IN``.
FINAL_SQL = "(" + ", ".join(f"'{s}'" for s in FINAL_STATUSES) + ")"


def new_job_args(job: NewJob, sealed: object) -> tuple[object, ...]:
    """The arguments of NEW_JOB_COLUMNS but ``attempts``; ``sealed`` stands for the sealed
    params (or the definition id a subquery reads them from)."""
    return (
        job.id,
        job.tenant_id,
        job.definition_id,
        job.definition_code,
        job.job_type,
        job.account_id,
        job.trigger,
        job.scheduled_for,
        job.status,
        job.overlap,
        sealed,
        job.max_retries,
        job.backoff,
        job.timeout,
        job.run_at,
        job.retry_until,
        job.created_at,
        job.connector,
    )


def placeholders(columns: str, mark: str) -> str:
    """One parameter ``mark`` ("?" or "%s") per column of ``columns``, comma-separated."""
    return ", ".join([mark] * (columns.count(",") + 1))


def fields(record: type[msgspec.Struct]) -> tuple[str, ...]:
    return record.__struct_fields__


def columns(record: type[msgspec.Struct], **sql: str) -> str:
    """``record``'s fields as a column list; ``sql`` names the expression of a field whose
    column is named otherwise."""
    return ", ".join(sql.get(name, name) for name in fields(record))


def values(record: type[msgspec.Struct], **sql: str) -> str:
    """A ``:field`` parameter per field of ``record``; ``sql`` gives other values."""
    return ", ".join(sql.get(name, f":{name}") for name in fields(record))


def assignments(record: type[msgspec.Struct], *names: str) -> str:
    """``column = :column`` for each of ``names`` (all fields of ``record`` when none)."""
    return ", ".join(f"{name} = :{name}" for name in names or fields(record))


def params(record: msgspec.Struct, **more: object) -> dict[str, object]:
    """A record's fields as query parameters, with ``more``."""
    found = msgspec.structs.asdict(record)
    found.update(more)
    return found
