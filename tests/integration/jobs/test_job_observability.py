"""Jobs as an operator sees them: /metrics after real runs (scheduled, retried, failed, a
webhook refused) parsed with prometheus-client's parser, and a log event per step with
the job's ids; a real loopback server, the jobber connector in the sandbox."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from prometheus_client.parser import text_string_to_metric_families

from .conftest import JobsApi
from .test_jobs_api import definition

PASSWORD = "pa55-word-xyz"  # definition()'s secret param


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


async def test_job_runs_retries_failures_fire_lag_and_webhooks_are_counted_and_logged(
    jobs_api: JobsApi, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="connectord")
    delivered: asyncio.Queue[int] = asyncio.Queue()

    async def refuse(request: web.Request) -> web.Response:
        await delivered.put(1)
        return web.Response(status=410)  # a 4xx: failed at once, not tried again

    receiver = web.Application()
    receiver.router.add_post("/hook", refuse)
    async with TestServer(receiver, host="127.0.0.1") as server:
        hooks = {"webhooks": {"onFailure": [str(server.make_url("/hook"))]}}
        # a slot every second: scheduled, started late by some milliseconds, completed
        every = definition("every-second", schedule={"cron": "* * * * * ?"})
        await jobs_api.call("POST", "/v1/job-definitions", 201, json=every)
        await jobs_api.call("POST", "/v1/job-definitions/every-second/_start", 200)
        fired: list[str] = []

        async def completed_slot() -> bool:
            query = "jobDefinitionCode=every-second&status=COMPLETED"
            listed = await jobs_api.call("GET", f"/v1/jobs?{query}", 200)
            fired[:] = [j["jobId"] for j in listed["data"] if j["trigger"] == "schedule"]
            return bool(fired)

        await jobs_api.until(completed_slot)
        await jobs_api.call("POST", "/v1/job-definitions/every-second/_stop", 200)
        # retried once, then failed, and its failure webhook refused
        params = {"counter": str(tmp_path / "count"), "failTimes": 5}
        flaky = definition("flaky", jobType="flaky", params=params, maxRetries=1, retryBackoffSeconds=0.05,
                           options=hooks)
        await jobs_api.call("POST", "/v1/job-definitions", 201, json=flaky)
        answer = await jobs_api.call("POST", "/v1/job-definitions/flaky/_execute", 202)
        failed = await jobs_api.finished(answer["jobId"])
        assert failed["status"] == "FAILED"
        await asyncio.wait_for(delivered.get(), 20)
        await jobs_api.node.webhooks.drain()  # type: ignore[union-attr]

    text = await jobs_api.call("GET", "/metrics", 200, headers={})
    found = samples(text)
    runs = "connectord_job_runs_total"
    assert value(found, runs, status="COMPLETED", job_type="echo") >= 1
    assert value(found, runs, status="RETRY", job_type="flaky") == 1
    assert value(found, runs, status="FAILED", job_type="flaky") == 1
    assert value(found, "connectord_job_fire_lag_seconds_count") >= 1
    assert value(found, "connectord_job_duration_seconds_count", job_type="flaky") == 2
    deliveries = "connectord_webhook_deliveries_total"
    assert value(found, deliveries, event="job.failed", outcome="failed") == 1
    assert value(found, "connectord_queue_depth", queue="jobs") >= 0
    assert PASSWORD not in text

    events: dict[str, list[logging.LogRecord]] = {}
    for record in caplog.records:
        events.setdefault(getattr(record, "event", ""), []).append(record)
    scheduled = [r for r in events["job.scheduled"] if getattr(r, "trigger", None) == "schedule"]
    assert scheduled and all(r.job_type == "echo" for r in scheduled)  # type: ignore[attr-defined]
    for event in ("job.started", "job.finished", "job.retried", "job.failed"):
        assert events.get(event), f"no {event} logged"
    [failure] = events["job.failed"]
    assert (failure.status, failure.attempt, failure.duration_ms >= 0) == ("FAILED", 2, True)  # type: ignore[attr-defined]
    assert PASSWORD not in caplog.text


async def test_skipped_slots_are_counted_and_logged(
    jobs_api: JobsApi, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="connectord")
    body = definition("sleepy", jobType="sleep", params={"seconds": 3}, schedule={"cron": "* * * * * ?"})
    await jobs_api.call("POST", "/v1/job-definitions", 201, json=body)
    await jobs_api.call("POST", "/v1/job-definitions/sleepy/_start", 200)

    async def skipped() -> bool:
        listed = await jobs_api.call("GET", "/v1/jobs?jobDefinitionCode=sleepy&status=SKIPPED", 200)
        return bool(listed["data"])

    await jobs_api.until(skipped)  # the 3 s run overlaps the next slots: skipped
    await jobs_api.call("POST", "/v1/job-definitions/sleepy/_stop", 200)
    found = samples(await jobs_api.call("GET", "/metrics", 200, headers={}))
    assert value(found, "connectord_job_runs_total", status="SKIPPED", job_type="sleep") >= 1
    assert any(getattr(r, "event", None) == "job.skipped" for r in caplog.records)




async def test_a_worker_killed_at_its_deadline_is_counted(jobs_api: JobsApi) -> None:
    body = definition("slow", jobType="sleep", params={"seconds": 60}, timeoutSeconds=0.5)
    await jobs_api.call("POST", "/v1/job-definitions", 201, json=body)
    answer = await jobs_api.call("POST", "/v1/job-definitions/slow/_execute", 202)
    assert (await jobs_api.finished(answer["jobId"]))["status"] == "FAILED"
    found = samples(await jobs_api.call("GET", "/metrics", 200, headers={}))
    assert value(found, "connectord_workers_killed_total", connector="jobber", reason="timed_out") == 1
    assert value(found, "connectord_job_runs_total", status="FAILED", job_type="sleep") == 1
