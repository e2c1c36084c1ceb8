"""``/v1/job-types``, ``/v1/job-definitions`` and ``/v1/jobs`` (seed 003's endpoints)."""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

from connectord.api.body import decode_json, read_body
from connectord.api.job_views import definition_view, job_type_view, job_view, zone_of
from connectord.api.keys import JOBS, PRINCIPAL
from connectord.api.paging import instant, integer, seconds
from connectord.api.responses import json_response
from connectord.api.urls import absolute
from connectord.plugins.server_errors import Invalid
from connectord.runtime.jobs.definitions import FIELD
from connectord.runtime.jobs.schedules import iso
from connectord.runtime.store.records import DefinitionRecord, JobRecord
from connectord.runtime.validation import InvalidRequestError

MAX_PAGE = 500
MAX_NEXT = 1000
STATUSES = ("WAITING", "STARTED", "COMPLETED", "FAILED", "CANCELLED", "MISSED", "SKIPPED")


class ExecuteBody(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    params: dict[str, Any] = msgspec.field(default_factory=dict)
    account_id: str | None = None


_object = msgspec.json.Decoder(dict[str, Any])
_execute_body = msgspec.json.Decoder(ExecuteBody)


# -- job types ----------------------------------------------------------------------------


async def list_job_types(request: web.Request) -> web.Response:
    types = request.app[JOBS].job_types()
    return json_response({"data": [job_type_view(c, t) for c, t in types]})


async def get_job_type(request: web.Request) -> web.Response:
    connector, job_type = request.app[JOBS].job_type(request.match_info["code"])
    return json_response(job_type_view(connector, job_type))


async def execute_job_type(request: web.Request) -> web.Response:
    body = decode_json(_execute_body, await read_body(request) or b"{}")
    job = await request.app[JOBS].execute_type(
        request[PRINCIPAL], request.match_info["code"], body.params, body.account_id
    )
    return _accepted(request, job)


# -- definitions --------------------------------------------------------------------------


def _definition_body(raw: bytes) -> dict[str, Any]:
    body = decode_json(_object, raw)
    inner = body.get(FIELD)
    if not isinstance(inner, dict):
        raise InvalidRequestError(f'the body must be {{"{FIELD}": {{...}}}}', FIELD)
    unknown = sorted(set(body) - {FIELD})
    if unknown:
        raise InvalidRequestError(f"unknown parameter '{unknown[0]}'", unknown[0])
    return inner


def _definition_response(request: web.Request, record: DefinitionRecord, **extra: Any) -> dict[str, Any]:
    spec = request.app[JOBS].spec_of(record)
    return {FIELD: definition_view(record, spec), **extra}


async def create_definition(request: web.Request) -> web.Response:
    raw = _definition_body(await read_body(request))
    record = await request.app[JOBS].create_definition(request[PRINCIPAL], raw)
    location = absolute(request, f"/v1/job-definitions/{record.code}")
    return json_response(_definition_response(request, record), 201, {"Location": location})


async def list_definitions(request: web.Request) -> web.Response:
    limit = integer(request, "limit", 100, 1, MAX_PAGE)
    offset = integer(request, "offset", 0, 0, 10**9)
    records = await request.app[JOBS].definitions(request[PRINCIPAL], limit, offset)
    jobs = request.app[JOBS]
    data = [definition_view(r, jobs.spec_of(r)) for r in records]
    return json_response({"data": data, "meta": {"limit": limit, "offset": offset}})


async def get_definition(request: web.Request) -> web.Response:
    record = await request.app[JOBS].definition(request[PRINCIPAL], request.match_info["code"])
    return json_response(_definition_response(request, record))


async def update_definition(request: web.Request) -> web.Response:
    patch = _definition_body(await read_body(request))
    record = await request.app[JOBS].update_definition(request[PRINCIPAL], request.match_info["code"], patch)
    return json_response(_definition_response(request, record))


async def delete_definition(request: web.Request) -> web.Response:
    await request.app[JOBS].delete_definition(request[PRINCIPAL], request.match_info["code"])
    return web.Response(status=204)


async def start_definition(request: web.Request) -> web.Response:
    record, job = await request.app[JOBS].start(request[PRINCIPAL], request.match_info["code"])
    extra = {"jobId": job.id} if job is not None else {}
    return json_response(_definition_response(request, record, **extra))


async def stop_definition(request: web.Request) -> web.Response:
    record = await request.app[JOBS].stop(request[PRINCIPAL], request.match_info["code"])
    return json_response(_definition_response(request, record))


async def execute_definition(request: web.Request) -> web.Response:
    raw = await read_body(request)
    if raw.strip():  # seed 003 sends {}; nothing in it is used, but it must be an object
        decode_json(_object, raw)
    job = await request.app[JOBS].execute_definition(request[PRINCIPAL], request.match_info["code"])
    return _accepted(request, job)


async def next_fires(request: web.Request) -> web.Response:
    count = integer(request, "n", 10, 1, MAX_NEXT)
    jobs = request.app[JOBS]
    record = await jobs.definition(request[PRINCIPAL], request.match_info["code"])
    zone = zone_of(jobs.spec_of(record))
    times = [iso(t, zone) for t in await jobs.next_fires(request[PRINCIPAL], record.code, count)]
    if _prefers_text(request):
        return web.Response(text="".join(f"{t}\n" for t in times), content_type="text/plain")
    return json_response({"nextFireTimes": times})


def _prefers_text(request: web.Request) -> bool:
    accept = request.headers.get("Accept", "")
    return "text/plain" in accept and "application/json" not in accept


# -- jobs ---------------------------------------------------------------------------------


async def get_job(request: web.Request) -> web.Response:
    wait = seconds(request, "wait", request.app[JOBS].settings.max_wait)
    job = await request.app[JOBS].job(request[PRINCIPAL], request.match_info["job_id"], wait)
    return json_response(job_view(job))


async def list_jobs(request: web.Request) -> web.Response:
    limit = integer(request, "limit", 100, 1, MAX_PAGE)
    offset = integer(request, "offset", 0, 0, 10**9)
    status = request.query.get("status")
    if status is not None and status not in STATUSES:
        raise Invalid(f"status must be one of {', '.join(STATUSES)}, got {status!r}", "status")
    since = instant(request, "since")
    jobs = await request.app[JOBS].jobs(
        request[PRINCIPAL], limit, offset, request.query.get("jobDefinitionCode"), status, since
    )
    data = [job_view(j, with_logs=False) for j in jobs]
    return json_response({"data": data, "meta": {"limit": limit, "offset": offset}})


async def cancel_job(request: web.Request) -> web.Response:
    job = await request.app[JOBS].cancel(request[PRINCIPAL], request.match_info["job_id"])
    return json_response(job_view(job, with_logs=False))


def _accepted(request: web.Request, job: JobRecord) -> web.Response:
    location = absolute(request, f"/v1/jobs/{job.id}")
    return json_response({"jobId": job.id}, 202, {"Location": location})
