"""What a job's life looks like from outside: one log line per step (scheduled, started,
finished, retried, failed, missed, skipped) with its ids, and the job metrics. Never its
params, account or result: ids, kinds and durations only."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from connectord.runtime import log_context
from connectord.runtime.metrics import Metrics
from connectord.runtime.store.records import JobRecord, NewJob

log = logging.getLogger("connectord.jobs")

#: The status of a row added without running, as its event names it.
_NOT_RUN = {"MISSED": "job.missed", "SKIPPED": "job.skipped"}


@contextmanager
def job_context(job: NewJob | JobRecord) -> Iterator[None]:
    """Lines logged within name the job, its definition, tenant and connector."""
    with log_context.bound(
        job_id=job.id, definition_code=job.definition_code, tenant=job.tenant_id, connector=job.connector
    ):
        yield


def added(jobs: list[NewJob], metrics: Metrics) -> None:
    """Jobs were added (fired, run now, or recorded MISSED/SKIPPED)."""
    for job in jobs:
        event = _NOT_RUN.get(job.status, "job.scheduled")
        with job_context(job):
            if job.status in _NOT_RUN:
                labels = (job.status, job.job_type, *metrics.tenant(job.tenant_id))
                metrics.child(metrics.job_runs, *labels).inc()
                log.warning("job %s: slot not run", job.status.lower(), extra=_fields(job, event))
            else:
                log.info("job scheduled", extra=_fields(job, event))


def started(job: JobRecord, now: float, metrics: Metrics) -> None:
    """An attempt starts; the first of a scheduled slot tells how late the scheduler was."""
    if job.scheduled_for is not None and job.attempt == 1:
        metrics.fire_lag.observe(max(0.0, now - job.scheduled_for))
    fields = {**_fields(job, "job.started"), "attempt": job.attempt}
    log.info("job started (attempt %d)", job.attempt, extra=fields)


def ended(
    job: JobRecord, status: str, seconds: float, metrics: Metrics, retry_in: float | None = None
) -> None:
    """An attempt ended: the job ``status`` it leaves, or ``RETRY`` (it runs again in
    ``retry_in`` seconds)."""
    metrics.child(metrics.job_runs, status, job.job_type, *metrics.tenant(job.tenant_id)).inc()
    metrics.child(metrics.job_seconds, job.job_type).observe(seconds)
    event = {"RETRY": "job.retried", "FAILED": "job.failed"}.get(status, "job.finished")
    fields = {**_fields(job, event), "status": status, "attempt": job.attempt}
    fields["duration_ms"] = round(seconds * 1000, 1)
    if retry_in is not None:
        fields["retry_in_s"] = round(retry_in, 1)
    level = logging.WARNING if status in ("FAILED", "RETRY") else logging.INFO
    log.log(level, "job %s", "retried" if status == "RETRY" else status.lower(), extra=fields)


def _fields(job: NewJob | JobRecord, event: str) -> dict[str, Any]:
    return {"event": event, "job_type": job.job_type, "trigger": job.trigger}
