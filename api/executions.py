"""``/v1/exec``: seed 001's scheduled executions (schedule → 202 → poll → 303 → result once),
plus cancel, Idempotency-Key, long-poll and logs."""

from __future__ import annotations

import re

import msgspec
from aiohttp import web

from connectord.api.body import decode_json, read_body
from connectord.api.keys import EXECUTIONS, PRINCIPAL, SETTINGS
from connectord.api.paging import integer, seconds
from connectord.api.responses import json_response
from connectord.api.urls import absolute
from connectord.plugins.server_errors import Invalid
from connectord.runtime.executions.requests import ScheduleRequest, check_schedule_request
from connectord.runtime.executions.results import (
    decode_logs,
    decode_outcome,
    outcome_kind,
    rejection_reason,
)
from connectord.runtime.jobs.schedules import ScheduleError, parse_instant
from connectord.runtime.store.records import (
    EXECUTION_STATUSES,
    ExecutionFilter,
    ExecutionInfo,
    FinishedExecution,
)
from connectord.runtime.times import iso_utc
from connectord.sandbox.calls import METHODS
from connectord.sandbox.outcomes import Outcome, Succeeded

NOT_READY = {"message": "Result not ready yet."}
MISSING = {"message": "Result does not exist."}
EXPIRED = {"message": "Expired."}
#: Seconds a client is told to wait before polling again.
RETRY_AFTER = "1"
IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
#: RFC 7240's ``wait`` preference among others in ``Prefer`` (a list of token[=value]).
PREFER_WAIT = re.compile(r"(?:^|[,;])\s*wait\s*=\s*\"?(\d{1,9})\"?\s*(?=$|[,;])", re.IGNORECASE)
MAX_PAGE = 500
_schedule_body = msgspec.json.Decoder(ScheduleRequest)


async def schedule(request: web.Request) -> web.Response:
    key = request.headers.get("Idempotency-Key")
    if key is not None and not IDEMPOTENCY_KEY.fullmatch(key):
        raise Invalid("Idempotency-Key must be 1 to 255 visible ASCII characters", "Idempotency-Key")
    body = check_schedule_request(decode_json(_schedule_body, await read_body(request)))
    executions, principal = request.app[EXECUTIONS], request[PRINCIPAL]
    record, _ = await executions.schedule(principal, body, key)
    wait = _preferred_wait(request)
    if wait:
        found = await executions.result_within(principal, record.id, wait)
        if found is not None:  # answered as its /result would be, which it has used up
            response = _finished(found, with_logs=False)
            response.headers["Content-Location"] = absolute(request, f"/v1/exec/result/{record.id}")
            response.headers["Preference-Applied"] = f"wait={wait:g}"
            return response
    location = absolute(request, f"/v1/exec/poll/{record.id}")
    return json_response({"message": "ok", "id": record.id}, 202, {"Location": location})


def _preferred_wait(request: web.Request) -> float:
    """Seconds ``Prefer: wait=N`` asks to wait for the result, at most the longest poll; 0
    when not asked (a preference the server does not know or cannot parse is ignored, as
    RFC 7240 has it)."""
    found = PREFER_WAIT.search(",".join(request.headers.getall("Prefer", [])))
    return min(float(found.group(1)), request.app[SETTINGS].max_poll_wait) if found else 0.0


async def poll(request: web.Request) -> web.Response:
    execution_id = request.match_info["execution_id"]
    state = await request.app[EXECUTIONS].poll(request[PRINCIPAL], execution_id, _wait(request))
    if state == "ready":
        location = absolute(request, f"/v1/exec/result/{execution_id}")
        return json_response({"message": "Ready."}, 303, {"Location": location})
    if state == "not_ready":
        return json_response(NOT_READY, 200, {"Retry-After": RETRY_AFTER})
    return json_response(EXPIRED if state == "expired" else MISSING, 404)


async def result(request: web.Request) -> web.Response:
    execution_id = request.match_info["execution_id"]
    with_logs = _flag(request, "logs")  # before delivery: a bad flag must not use the result up
    found = await request.app[EXECUTIONS].result(request[PRINCIPAL], execution_id)
    if isinstance(found, FinishedExecution):
        return _finished(found, with_logs)
    if found == "not_ready":
        return json_response(NOT_READY, 404, {"Retry-After": RETRY_AFTER})
    return json_response(EXPIRED if found == "expired" else MISSING, 404)


async def cancel(request: web.Request) -> web.Response:
    execution_id = request.match_info["execution_id"]
    if not await request.app[EXECUTIONS].cancel(request[PRINCIPAL], execution_id):
        return json_response({"message": "No queued or running execution with this id."}, 404)
    return json_response({"message": "Cancelled."}, 202)


async def listing(request: web.Request) -> web.Response:
    """The tenant's executions, newest first, filtered and paged like the other lists."""
    limit = integer(request, "limit", 100, 1, MAX_PAGE)
    offset = integer(request, "offset", 0, 0, 10**9)
    wanted = ExecutionFilter(
        status=_choice(request, "status", EXECUTION_STATUSES),
        component=request.query.get("component"),
        kind=_choice(request, "execution_type", METHODS),
        since=_instant(request, "since"),
        until=_instant(request, "until"),
    )
    found = await request.app[EXECUTIONS].listing(request[PRINCIPAL], wanted, limit, offset)
    now = request.app[EXECUTIONS].clock()
    data = [execution_view(request, e, now) for e in found]
    return json_response({"data": data, "meta": {"limit": limit, "offset": offset}})


async def get(request: web.Request) -> web.Response:
    """One execution's status and metadata; its result stays unread."""
    found = await request.app[EXECUTIONS].info(request[PRINCIPAL], request.match_info["execution_id"])
    if found is None:
        return json_response(MISSING, 404)
    return json_response(execution_view(request, found, request.app[EXECUTIONS].clock()))


def execution_view(request: web.Request, found: ExecutionInfo, now: float) -> dict[str, object]:
    status: str = found.state
    if found.state == "done":
        status = "ready" if found.expires_at is not None and found.expires_at > now else "expired"
    view: dict[str, object] = {
        "id": found.id,
        "status": status,
        "component": found.component,
        "execution_type": found.kind,
        "action_or_trigger": found.action,
        "outcome": found.outcome,
        "created_at": iso_utc(found.created_at),
        "started_at": iso_utc(found.started_at),
        "finished_at": iso_utc(found.finished_at),
        "expires_at": iso_utc(found.expires_at),
        "poll": absolute(request, f"/v1/exec/poll/{found.id}"),
    }
    if status == "ready":
        view["result"] = absolute(request, f"/v1/exec/result/{found.id}")
    return view


def verified_view(execution_id: str, outcome: Outcome) -> dict[str, object]:
    """What ``_verify`` answers for an execution that ended: its outcome kind, and the
    connector's answer or why there is none."""
    kind = outcome_kind(outcome)
    if isinstance(outcome, Succeeded):
        return {"id": execution_id, "outcome": kind, "data": outcome.data}
    return {"id": execution_id, "outcome": kind, "reason": rejection_reason(outcome)}


def _choice(request: web.Request, name: str, allowed: tuple[str, ...]) -> str | None:
    value = request.query.get(name)
    if value is not None and value not in allowed:
        raise Invalid(f"{name} must be one of {', '.join(allowed)}, got {value!r}", name)
    return value


def _instant(request: web.Request, name: str) -> float | None:
    text = request.query.get(name)
    if text is None:
        return None
    try:
        return parse_instant(text, "UTC", name)
    except ScheduleError as exc:
        raise Invalid(str(exc), name) from None


def _finished(found: FinishedExecution, with_logs: bool) -> web.Response:
    outcome = decode_outcome(found.outcome)
    body: dict[str, object]
    if isinstance(outcome, Succeeded):
        body, status = {"data": outcome.data}, 200
    else:
        body, status = {"message": "Rejected.", "reason": rejection_reason(outcome)}, 400
    if with_logs:
        body["logs"] = [
            {
                "time": iso_utc(line.created),
                "level": line.level,
                "logger": line.logger,
                "message": line.message,
            }
            for line in decode_logs(found.logs)
        ]
    return json_response(body, status)


def _wait(request: web.Request) -> float:
    return seconds(request, "wait", request.app[SETTINGS].max_poll_wait)


def _flag(request: web.Request, name: str) -> bool:
    raw = request.query.get(name, "false").lower()
    if raw not in ("true", "false", "1", "0"):
        raise Invalid(f"{name} must be true or false, got {raw!r}", name)
    return raw in ("true", "1")
