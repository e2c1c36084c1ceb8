"""Job types, jobs and job definitions as the API shows them (seed 003's field names), and
the words of seed 004's process status. Webhooks carry the same job view."""

from __future__ import annotations

from typing import Any

import msgspec

from connectord.plugins.types import JobType
from connectord.runtime.jobs.definitions import DefinitionSpec
from connectord.runtime.jobs.schedules import iso
from connectord.runtime.jobs.webhooks import decode_deliveries
from connectord.runtime.store.records import DefinitionRecord, JobRecord
from connectord.runtime.times import iso_utc

#: Seed 004's words for a job's status.
PROCESS_STATUS = {
    "WAITING": "WAITING",
    "STARTED": "RUNNING",
    "COMPLETED": "SUCCEEDED",
    "FAILED": "FAILED",
    "CANCELLED": "CANCELLED",
    "MISSED": "FAILED",
    "SKIPPED": "FAILED",
}


def job_type_view(connector: str, job_type: JobType) -> dict[str, Any]:
    return {
        "code": job_type.code,
        "title": job_type.title,
        "description": job_type.description,
        "paramsSchema": job_type.params_schema,
        "needsAccount": job_type.needs_account,
        "component": connector,
    }


def job_view(record: JobRecord, with_logs: bool = True) -> dict[str, Any]:
    result = msgspec.json.decode(record.result) if record.result is not None else None
    attempts = msgspec.json.decode(record.attempts)
    for attempt in attempts:
        if isinstance(error := attempt.get("error"), dict) and error.get("type") == "NodeLost":
            attempt["error"] = {"kind": "node_lost", "message": error.get("message", "")}  # as stored once
        attempt["startedAt"] = iso_utc(attempt.get("startedAt"))
        attempt["finishedAt"] = iso_utc(attempt.get("finishedAt"))
    view: dict[str, Any] = {
        "jobId": record.id,
        "status": record.status,
        "jobType": record.job_type,
        "jobDefinitionCode": record.definition_code,
        "trigger": record.trigger,
        "scheduledFor": iso_utc(record.scheduled_for),
        "attempt": record.attempt,
        "maxRetries": record.max_retries,
        "attempts": attempts,
        "createdAt": iso_utc(record.created_at),
        "startedAt": iso_utc(record.started_at),
        "finishedAt": iso_utc(record.finished_at),
        "result": result.get("data") if isinstance(result, dict) else None,
        "outputs": result.get("outputs", {}) if isinstance(result, dict) else {},
    }
    if record.status == "WAITING" and record.run_at is not None:
        view["runAt"] = iso_utc(record.run_at)
    if attempts and record.status in ("FAILED", "WAITING"):
        view["error"] = attempts[-1].get("error")
    if record.webhooks is not None:
        # how each webhook was delivered: its name and host, never its URL
        view["webhooks"] = [msgspec.to_builtins(d) for d in decode_deliveries(record.webhooks)]
    if with_logs:
        lines = msgspec.json.decode(record.logs) if record.logs is not None else []
        # the same shape as an execution's logs (GET /v1/exec/result/{id}?logs=true)
        view["logs"] = [
            {
                "time": iso_utc(line["created"]),
                "level": line["level"],
                "logger": line["logger"],
                "message": line["message"],
            }
            for line in lines
        ]
    return view


def definition_view(record: DefinitionRecord, spec: DefinitionSpec) -> dict[str, Any]:
    view: dict[str, Any] = msgspec.to_builtins(spec)
    view.setdefault("params", {})
    view.update(
        # the connector its jobs run in: the job type's owner when it was created
        component=record.connector,
        state=record.state,
        nextFireTime=None if record.next_fire_at is None else iso(record.next_fire_at, zone_of(spec)),
        createdAt=iso_utc(record.created_at),
        updatedAt=iso_utc(record.updated_at),
    )
    return view


def zone_of(spec: DefinitionSpec) -> str:
    """The definition's time zone (UTC without a schedule or a zone)."""
    zone = (spec.schedule or {}).get("timezone")
    return zone if isinstance(zone, str) else "UTC"
