"""``/v1/exec``: seed 001's scheduled executions (schedule → 202 → poll → 303 → result once),
plus cancel, Idempotency-Key, long-poll and logs."""

from __future__ import annotations

import re

from aiohttp import web

from connectord.api.errors import ApiError
from connectord.api.keys import EXECUTIONS, PRINCIPAL, SETTINGS
from connectord.api.paging import number
from connectord.api.responses import json_response
from connectord.api.urls import absolute
from connectord.runtime.executions.requests import parse_schedule_request
from connectord.runtime.executions.results import decode_logs, decode_outcome, rejection_reason
from connectord.runtime.store.records import FinishedExecution
from connectord.runtime.times import iso_utc
from connectord.sandbox.outcomes import Succeeded

NOT_READY = {"message": "Result not ready yet."}
MISSING = {"message": "Result does not exist."}
EXPIRED = {"message": "Expired."}
#: Seconds a client is told to wait before polling again.
RETRY_AFTER = "1"
IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


async def schedule(request: web.Request) -> web.Response:
    key = request.headers.get("Idempotency-Key")
    if key is not None and not IDEMPOTENCY_KEY.fullmatch(key):
        raise ApiError(400, "Idempotency-Key must be 1 to 255 visible ASCII characters", "Idempotency-Key")
    body = parse_schedule_request(await request.read())
    record, _ = await request.app[EXECUTIONS].schedule(request[PRINCIPAL], body, key)
    location = absolute(request, f"/v1/exec/poll/{record.id}")
    return json_response({"message": "ok", "id": record.id}, 202, {"Location": location})


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
    return number(request, "wait", 0.0, 0.0, request.app[SETTINGS].max_poll_wait)


def _flag(request: web.Request, name: str) -> bool:
    raw = request.query.get(name, "false").lower()
    if raw not in ("true", "false", "1", "0"):
        raise ApiError(400, f"{name} must be true or false, got {raw!r}", name)
    return raw in ("true", "1")
