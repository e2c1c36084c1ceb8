"""``GET /console/api/next-fires``: the next fire times of a schedule being typed, before any
definition exists (``/v1/job-definitions/{code}/next`` needs a stored one). The schedule is
read exactly as a definition's (``runtime.jobs.schedules``), so its errors are the API's."""

from __future__ import annotations

import time

from aiohttp import web

from connectord.api.console.middleware import session_principal
from connectord.api.paging import integer
from connectord.api.responses import json_response
from connectord.plugins.server_errors import Unauthorized
from connectord.runtime.jobs.schedules import CronSchedule, iso, next_fires, parse_schedule

MAX_PREVIEW = 20


async def next_fire_times(request: web.Request) -> web.Response:
    if await session_principal(request) is None:
        raise Unauthorized("Sign in to the console first.", challenge=False)
    count = integer(request, "n", 5, 1, MAX_PREVIEW)
    query = request.query
    raw: dict[str, object] = {"timezone": query.get("timezone") or "UTC"}
    if "cron" in query:
        raw["cron"] = query["cron"]
    elif "every" in query:
        raw["every"] = _integer(query["every"])
        raw["unit"] = query.get("unit", "")
        raw["anchor"] = query.get("anchor") or None
    schedule = parse_schedule(raw, "schedule")  # ScheduleError: a 400 naming the field
    times = [iso(t, schedule.timezone) for t in next_fires(schedule, time.time(), count)]
    body: dict[str, object] = {"nextFireTimes": times}
    if isinstance(schedule, CronSchedule):
        body["dialect"] = schedule.dialect
    return json_response(body)


def _integer(text: str) -> int | str:
    """An integer as typed, or the text itself (the schedule's check then names the field)."""
    try:
        return int(text.strip())
    except ValueError:
        return text
