"""Seed 004's process scheduler API, mapped onto job definitions and jobs.

``POST /scheduler/connector-api/process/start`` creates a definition (its code is the
``robustaSpid``) and starts it; ``GET .../process/status/{robustaSpid}`` answers with the
state of its latest run and that run's outputs as ``__out_<name>`` keys. ``name`` is the
job type, ``values`` its params, ``quartzDef`` the schedule. Dates without an offset are
UTC unless ``timezone`` (an extension) names a zone.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import msgspec
from aiohttp import web

from connectord.api.body import decode_json, read_body
from connectord.api.job_views import PROCESS_STATUS
from connectord.api.keys import JOBS, PRINCIPAL
from connectord.api.responses import json_response
from connectord.plugins.server_errors import NotFound
from connectord.runtime.jobs.errors import StateError
from connectord.runtime.store.records import JobRecord
from connectord.runtime.times import iso_utc
from connectord.runtime.validation import InvalidRequestError

#: "Y"/"N" as the document writes them; its example has a stray comma inside the quotes.
_FLAG = re.compile(r"^\s*(y|yes|n|no|true|false)\s*,?\s*$", re.IGNORECASE)
MESSAGES = {
    "WAITING": "The process is waiting for its run.",
    "RUNNING": "The process is running.",
    "SUCCEEDED": "Your transaction has ended.",
    "FAILED": "The process failed.",
    "CANCELLED": "The process was cancelled.",
}
NO_RUN_LEFT = "The process has not run and will not: its schedule has no fire time left before endDate."


class ProcessStart(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    values: dict[str, Any] = msgspec.field(default_factory=dict)
    quartzDef: str | None = None
    startDate: str | None = None
    endDate: str | None = None
    runOnce: str | bool | None = None
    runImmediately: str | bool | None = None
    run_immediately_spaced: str | bool | None = msgspec.field(default=None, name="run immediately")
    retryCount: str | int | None = None
    worker: str | int | None = None
    timezone: str = "UTC"
    #: Extension: the stored account a job type that needs one runs with.
    accountId: str | None = None


_start_body = msgspec.json.Decoder(ProcessStart)


def _flag(value: str | bool | None, name: str) -> bool:
    if value is None or isinstance(value, bool):
        return bool(value)
    match = _FLAG.match(value)
    if match is None:
        raise InvalidRequestError(f'{name} must be "Y" or "N", got {value!r}', name)
    return match.group(1).lower() in ("y", "yes", "true")


def _retries(value: str | int | None) -> int:
    if value is None:
        return 0
    try:
        count = int(value)
    except ValueError:
        raise InvalidRequestError(f"retryCount must be a whole number, got {value!r}", "retryCount") from None
    if not 0 <= count <= 10:
        raise InvalidRequestError(f"retryCount must be between 0 and 10, got {count}", "retryCount")
    return count


def definition_of(body: ProcessStart, spid: str) -> dict[str, Any]:
    """The job definition a process start stands for."""
    immediately = _flag(body.runImmediately, "runImmediately") or _flag(
        body.run_immediately_spaced, "run immediately"
    )
    run_once = _flag(body.runOnce, "runOnce")
    definition: dict[str, Any] = {
        "jobDefinitionCode": spid,
        "jobType": body.name,
        "name": body.name,
        "description": "Started through the process scheduler API"
        + (f" (worker {body.worker})" if body.worker is not None else ""),
        "params": body.values,
        "runOnce": run_once,
        "runImmediately": immediately,
        "maxRetries": _retries(body.retryCount),
        "accountId": body.accountId,
    }
    if body.quartzDef:
        definition["schedule"] = {"cron": body.quartzDef, "timezone": body.timezone}
    else:  # nothing to schedule: the process runs now, once
        definition.update(runImmediately=True, runOnce=True)
    for key in ("startDate", "endDate"):
        if getattr(body, key) is not None:
            definition[key] = getattr(body, key)
    return definition


async def start(request: web.Request) -> web.Response:
    body = decode_json(_start_body, await read_body(request))
    spid = str(uuid.uuid4())
    jobs = request.app[JOBS]
    try:
        await jobs.create_definition(request[PRINCIPAL], definition_of(body, spid))
    except InvalidRequestError as exc:  # name the document's field, not ours
        message = str(exc).replace("jobDefinition.", "").replace("'params.", "'values.")
        for ours, theirs in _FIELDS.items():
            message = message.replace(ours, theirs)
        raise InvalidRequestError(message, _field(exc.field)) from None
    body_out: dict[str, Any] = {"robustaSpid": spid, "message": "Process saved"}
    try:
        await jobs.start(request[PRINCIPAL], spid)
    except StateError as exc:  # the document's own example ends before its first Friday
        body_out["warning"] = f"the process will not run: {exc}"
    return json_response(body_out)


#: Our names of the document's fields.
_FIELDS = {"schedule.cron": "quartzDef", "schedule.timezone": "timezone", "maxRetries": "retryCount"}


def _field(field: str) -> str:
    name = field.removeprefix("jobDefinition.")
    if name == "jobType":
        return "name"
    return _FIELDS.get(name, name.replace("params", "values", 1))


async def status(request: web.Request) -> web.Response:
    spid = request.match_info["spid"]
    jobs = request.app[JOBS]
    principal = request[PRINCIPAL]
    try:
        definition = await jobs.definition(principal, spid)
    except LookupError:
        raise NotFound("Process does not exist.", "robustaSpid") from None
    latest = await jobs.jobs(principal, 20, 0, spid, None, None)
    ran = [j for j in latest if j.status not in ("MISSED", "SKIPPED")]
    return json_response(status_body(ran[0] if ran else None, definition.next_fire_at))


def status_body(job: JobRecord | None, next_fire_at: float | None) -> dict[str, Any]:
    if job is None:
        message = MESSAGES["WAITING"] if next_fire_at is not None else NO_RUN_LEFT
        return {"status": "WAITING", "message": message, "nextFireTime": iso_utc(next_fire_at)}
    state = PROCESS_STATUS[job.status]
    body: dict[str, Any] = {"status": state, "message": MESSAGES[state], "jobId": job.id}
    if job.status == "COMPLETED" and job.result is not None:
        result = msgspec.json.decode(job.result)
        outputs = result.get("outputs", {}) if isinstance(result, dict) else {}
        body.update({f"__out_{name}": value for name, value in outputs.items()})
    if job.status == "FAILED":
        attempts = msgspec.json.decode(job.attempts)
        if attempts and attempts[-1].get("error"):
            body["message"] = f"The process failed: {attempts[-1]['error'].get('message', '')}"
    return body
