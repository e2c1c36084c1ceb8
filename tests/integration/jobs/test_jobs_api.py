"""Job types, job definitions and jobs through a real HTTP server (seed 003's endpoints)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import re
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from connectord.runtime.secrets import MASK, hash_api_key
from connectord.runtime.store import SQLITE_FILE, open_store

from .conftest import JobsApi

JOB_ID = re.compile(r"^\d{8}-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def definition(code: str = "nightly", **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "jobDefinitionCode": code,
        "jobType": "echo",
        "name": "Echo at night",
        "params": {"message": "hello", "password": "pa55-word-xyz"},
        "schedule": {"cron": "0 0 12 * * ?", "timezone": "Europe/Berlin"},
    }
    body.update(fields)
    return {"jobDefinition": body}


async def test_job_types_are_listed_with_their_params_schema(jobs_api: JobsApi) -> None:
    listed = await jobs_api.call("GET", "/v1/job-types", 200)
    codes = {t["code"]: t for t in listed["data"]}
    assert {"callWebserviceEndpoint", "echo", "flaky", "OneStepNotepadRunner"} <= set(codes)
    web_type = codes["callWebserviceEndpoint"]
    assert web_type["component"] == "webservice"
    assert "url" in web_type["paramsSchema"]["properties"]
    one = await jobs_api.call("GET", "/v1/job-types/flaky", 200)
    assert one["paramsSchema"]["required"] == ["counter", "failTimes"]
    missing = await jobs_api.call("GET", "/v1/job-types/nope", 404)
    assert "unknown job type 'nope'" in missing["message"]


async def test_a_job_type_runs_without_a_definition(jobs_api: JobsApi) -> None:
    response = await jobs_api.client.post(
        "/v1/job-types/echo/_execute",
        json={"params": {"message": "hi there", "password": "s3cret-pass-123"}},
        headers=jobs_api.headers,
    )
    assert response.status == 202
    job_id = (await response.json())["jobId"]
    assert JOB_ID.match(job_id)
    assert response.headers["Location"].endswith(f"/v1/jobs/{job_id}")
    job = await jobs_api.finished(job_id)
    assert job["status"] == "COMPLETED", job
    assert job["result"] == {"echo": "hi there"}
    assert job["outputs"] == {"length": 8}
    assert job["jobDefinitionCode"] is None and job["attempt"] == 1
    assert set(job["logs"][0]) == {"time", "level", "logger", "message"}  # as an execution's
    lines = [line["message"] for line in job["logs"]]
    assert any("echo hi there with password" in line for line in lines)
    assert not any("s3cret-pass-123" in line for line in lines)


@pytest.mark.parametrize(
    ("path", "body", "status", "field"),
    [
        ("/v1/job-types/flaky/_execute", {"params": {"counter": "/tmp/x"}}, 400, "params.failTimes"),
        ("/v1/job-types/flaky/_execute", {"params": {"counter": 1, "failTimes": 0}}, 400, "params.counter"),
        ("/v1/job-types/echo/_execute", {"params": {}, "extra": 1}, 400, "extra"),
        ("/v1/job-types/whoami/_execute", {"params": {}}, 400, "accountId"),
        ("/v1/job-types/whoami/_execute", {"params": {}, "accountId": "nope"}, 400, "accountId"),
    ],
)
async def test_bad_job_type_executions_are_refused_naming_the_field(
    jobs_api: JobsApi, path: str, body: dict[str, Any], status: int, field: str
) -> None:
    answer = await jobs_api.call("POST", path, status, json=body)
    assert answer["field"] == field, answer


async def test_an_account_gives_a_job_its_credentials(jobs_api: JobsApi) -> None:
    account = jobs_api.add_account("ops@example.com", {"token": "abcdef"}, "jobber")
    answer = await jobs_api.call(
        "POST", "/v1/job-types/whoami/_execute", 202, json={"params": {}, "accountId": account}
    )
    job = await jobs_api.finished(answer["jobId"])
    assert job["result"] == {"token_length": 6}


async def test_definitions_are_created_read_listed_patched_and_deleted(jobs_api: JobsApi) -> None:
    response = await jobs_api.client.post("/v1/job-definitions", json=definition(), headers=jobs_api.headers)
    assert response.status == 201, await response.text()
    assert response.headers["Location"].endswith("/v1/job-definitions/nightly")
    created = (await response.json())["jobDefinition"]
    assert created["state"] == "INITIALIZED" and created["nextFireTime"] is None
    assert created["params"] == {"message": "hello", "password": MASK}  # secret params are masked
    assert created["maxRetries"] == 0 and created["overlap"] == "skip"

    again = await jobs_api.call("POST", "/v1/job-definitions", 409, json=definition())
    assert "nightly" in again["message"]
    await jobs_api.call("POST", "/v1/job-definitions", 201, json=definition("second"))

    one = await jobs_api.call("GET", "/v1/job-definitions/nightly", 200)
    assert one["jobDefinition"]["name"] == "Echo at night"
    page = await jobs_api.call("GET", "/v1/job-definitions?limit=1&offset=1", 200)
    assert [d["jobDefinitionCode"] for d in page["data"]] == ["second"]

    # The params sent back as read (the other params unchanged): the masked secret is kept.
    patch = {"jobDefinition": {"name": "renamed", "params": {"message": "hello", "password": MASK}}}
    patched = (await jobs_api.call("PATCH", "/v1/job-definitions/nightly", 200, json=patch))["jobDefinition"]
    assert patched["name"] == "renamed" and patched["params"]["message"] == "hello"
    record = await jobs_api.jobs.definition(await _principal(jobs_api), "nightly")
    assert jobs_api.box.open_json(record.sealed_params)["password"] == "pa55-word-xyz"  # kept, not "***"

    # Masks stand for stored values only under the same job type (whose schema marks them).
    switch = {"jobDefinition": {"jobType": "OneStepNotepadRunner", "params": {"password": MASK}}}
    refused = await jobs_api.call("PATCH", "/v1/job-definitions/nightly", 400, json=switch)
    assert refused["field"] == "jobDefinition.params.password"
    cleared = await jobs_api.call(
        "PATCH", "/v1/job-definitions/nightly", 200, json={"jobDefinition": {"params": None}}
    )
    assert cleared["jobDefinition"]["params"] == {}

    await jobs_api.call("DELETE", "/v1/job-definitions/nightly", 204)
    await jobs_api.call("GET", "/v1/job-definitions/nightly", 404)
    await jobs_api.call("DELETE", "/v1/job-definitions/nightly", 404)


async def test_secret_header_values_are_masked_and_kept_on_patch(jobs_api: JobsApi) -> None:
    headers = {"Authorization": "Bearer tok-123456", "Content-Type": "application/json"}
    params = {"url": "https://example.com/x", "headers": headers}
    body = definition("web", jobType="callWebserviceEndpoint", params=params)
    created = (await jobs_api.call("POST", "/v1/job-definitions", 201, json=body))["jobDefinition"]
    assert created["params"]["headers"] == {"Authorization": MASK, "Content-Type": "application/json"}
    patch = {"jobDefinition": {"params": {**params, "headers": created["params"]["headers"]}}}
    await jobs_api.call("PATCH", "/v1/job-definitions/web", 200, json=patch)
    record = await jobs_api.jobs.definition(await _principal(jobs_api), "web")
    assert jobs_api.box.open_json(record.sealed_params)["headers"] == headers
    new_header = {"jobDefinition": {"params": {**params, "headers": {"X-Token": MASK}}}}
    refused = await jobs_api.call("PATCH", "/v1/job-definitions/web", 400, json=new_header)
    assert refused["field"] == "jobDefinition.params.headers.X-Token"


async def _principal(jobs_api: JobsApi) -> Any:
    from connectord.runtime.secrets import hash_api_key

    store = jobs_api.jobs.store
    return store.principal(hash_api_key(jobs_api.keys["ops@example.com"]))


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"schedule": {"cron": "0 0 12 * * ? *x"}}, "jobDefinition.schedule.cron", ""),
        ({"schedule": {"cron": "61 * * * *"}}, "jobDefinition.schedule.cron", ""),
        (
            {"schedule": {"cron": "0 0 12 * * ?", "timezone": "Mars/Olympus"}},
            "jobDefinition.schedule.timezone",
            "",
        ),
        ({"schedule": {"cron": "0 0 30 2 *"}}, "jobDefinition.schedule.cron", "never"),
        (
            {"startDate": "2030-01-02 00:00:00", "endDate": "2030-01-01 00:00:00"},
            "jobDefinition.endDate",
            "after",
        ),
        ({"startDate": "tomorrow"}, "jobDefinition.startDate", "ISO 8601"),
        ({"jobType": "nope"}, "jobDefinition.jobType", "unknown job type"),
        ({"params": {"message": 5}}, "jobDefinition.params.message", ""),
        ({"maxRetries": 11}, "jobDefinition.maxRetries", ""),
        ({"overlap": "sometimes"}, "jobDefinition.overlap", ""),
        ({"jobDefinitionCode": "has space"}, "jobDefinition.jobDefinitionCode", ""),
        ({"bogus": 1}, "jobDefinition.bogus", "unknown"),
        ({"options": {"bogus": 1}}, "jobDefinition.options.bogus", "unknown"),
        (
            {"schedule": {"every": 2, "unit": "day", "anchor": "9999-12-31T23:59:59-14:00"}},
            "jobDefinition.schedule.anchor",
            "1900 to 9998",
        ),
        (
            {"options": {"webhooks": {"onFailure": ["ftp://x"]}}},
            "jobDefinition.options.webhooks.onFailure[0]",
            "",
        ),
    ],
)
async def test_invalid_definitions_are_refused_saying_why(
    jobs_api: JobsApi, fields: dict[str, Any], field: str, words: str
) -> None:
    answer = await jobs_api.call("POST", "/v1/job-definitions", 400, json=definition(**fields))
    assert answer["field"] == field, answer
    assert words in answer["message"]


#: Codes with a newline or another control character: the trailing newline passed
#: ``re.search`` with a ``$`` pattern and made a second definition beside "nl-code".
CONTROL_CODES = [
    "nl-code\n",
    "nl-code\r\n",
    "\nnl-code",
    "nl\ncode",
    "nl-code\t",
    "nl-code\x00",
    "nl-code\x7f",
    "nl-code\x85",
    "nl-code\u2028",
    "nl-code\n\n",
    " nl-code",
    "nl-code ",
]


async def test_codes_with_a_newline_or_control_character_are_refused_naming_the_field(
    jobs_api: JobsApi,
) -> None:
    for code in CONTROL_CODES:
        answer = await jobs_api.call("POST", "/v1/job-definitions", 400, json=definition(code))
        assert answer["field"] == "jobDefinition.jobDefinitionCode", (code, answer)
    await jobs_api.call("POST", "/v1/job-definitions", 201, json=definition("nl-code"))
    listed = await jobs_api.call("GET", "/v1/job-definitions", 200)
    assert [d["jobDefinitionCode"] for d in listed["data"]] == ["nl-code"]


def hook(i: int) -> str:
    return f"https://hooks.example.com/{i}?token=s3cret-{i}"


async def test_webhook_and_email_lists_are_capped_naming_the_field(jobs_api: JobsApi) -> None:
    """At most 10 URLs per webhook list (each a POST the server sends, up to three times,
    whenever a job ends), at most 2048 characters each; at most 100 addresses of at most
    254 characters in ``emailList``. On create and on update."""
    base = "jobDefinition.options"
    too_many = [
        ({"webhooks": {"onCompletion": [hook(i) for i in range(11)]}}, f"{base}.webhooks.onCompletion"),
        ({"webhooks": {"onFailure": [hook(i) for i in range(1000)]}}, f"{base}.webhooks.onFailure"),
        ({"webhooks": {"onFailure": ["https://x.example/" + "a" * 2031]}}, f"{base}.webhooks.onFailure[0]"),
        ({"emailList": [f"u{i}@example.com" for i in range(101)]}, f"{base}.emailList"),
        ({"emailList": ["ok@example.com", "u" * 243 + "@example.com"]}, f"{base}.emailList[1]"),
        ({"emailList": ["ok@example.com", "nl@example.com\n"]}, f"{base}.emailList[1]"),
        ({"emailList": ["bell\x07@example.com"]}, f"{base}.emailList[0]"),
    ]
    for options, field in too_many:
        body = definition("capped", options=options)
        answer = await jobs_api.call("POST", "/v1/job-definitions", 400, json=body)
        assert answer["field"] == field, (field, answer)
        assert "s3cret" not in answer["message"]
    at_most = {
        "webhooks": {
            "onCompletion": [hook(i) for i in range(10)],
            "onFailure": ["https://x.example/" + "a" * 2030],
        },
        "emailList": [f"u{i}@example.com" for i in range(99)] + ["u" * 242 + "@example.com"],
    }
    created = await jobs_api.call(
        "POST", "/v1/job-definitions", 201, json=definition("capped", options=at_most)
    )
    assert created["jobDefinition"]["options"]["webhooks"]["onCompletion"] == [MASK] * 10
    for options, field in too_many:
        patch = {"jobDefinition": {"options": options}}
        answer = await jobs_api.call("PATCH", "/v1/job-definitions/capped", 400, json=patch)
        assert answer["field"] == field, (field, answer)


#: Webhook URLs no request could be sent to (each was accepted with 201, then its
#: delivery crashed and lost the records of every URL of its list).
BAD_WEBHOOK_URLS = [
    "http://[SECRETIPV6/",
    "http://" + "a" * 64 + ".example/SECRETLONGLABEL",
    "http://" + ".".join(["a" * 63] * 4) + "/SECRETLONGHOST",
    "http://x..example/SECRETDOTS",
    "http://.example/SECRETDOTS",
    "http://x.example:99999/SECRETPORT",
    "http://x.example:0/SECRETPORT",
    "http://x.example:8o/SECRETPORT",
    "http:///SECRETNOHOST",
    "http://user:SECRETPW@/x",
    "http://exa mple.com/SECRETSPACE",
    "http://example.com/SECRET\nNEWLINE",
    "http://example.com\t/SECRETTAB",
    "http://exam\u200bple.com/SECRETZWSP",
    "http://%41%42/SECRETPCT",
    "http://[1.2.3.4]/SECRETV4INV6",
]


#: Unusual but sound: accepted beside each of the above.
GOOD_WEBHOOK_URLS = [
    "https://hooks.example.com:8443/x?token=1",
    "http://\u00e9xample.com/",
    "http://user:pw@example.com./",
    "http://127.0.0.1:65535/",
    "http://[2001:db8::1]/",
    "HTTPS://Example.COM/",
    "http://" + ".".join(["a" * 63] * 3) + "." + "b" * 61 + "/",  # 253 characters
]


@pytest.mark.parametrize("url", BAD_WEBHOOK_URLS)
async def test_webhook_urls_that_cannot_be_sent_to_are_refused_naming_the_element(
    jobs_api: JobsApi, url: str
) -> None:
    good = GOOD_WEBHOOK_URLS
    webhooks = {"onCompletion": good, "onFailure": [*good[:2], url]}
    body = definition("hooked", options={"webhooks": webhooks})
    answer = await jobs_api.call("POST", "/v1/job-definitions", 400, json=body)
    assert answer["field"] == "jobDefinition.options.webhooks.onFailure[2]", answer
    assert "SECRET" not in answer["message"], answer  # the URL is not repeated

    webhooks = {"onCompletion": good, "onFailure": good}
    await jobs_api.call(
        "POST", "/v1/job-definitions", 201, json=definition("hooked", options={"webhooks": webhooks})
    )
    patch = {"jobDefinition": {"options": {"webhooks": {"onCompletion": [MASK, url]}}}}
    answer = await jobs_api.call("PATCH", "/v1/job-definitions/hooked", 400, json=patch)
    assert answer["field"] == "jobDefinition.options.webhooks.onCompletion[1]", answer
    assert "SECRET" not in answer["message"], answer


async def test_a_body_without_the_job_definition_wrapper_is_refused(jobs_api: JobsApi) -> None:
    answer = await jobs_api.call("POST", "/v1/job-definitions", 400, json={"jobDefinitionCode": "x"})
    assert answer["field"] == "jobDefinition"
    answer = await jobs_api.call("POST", "/v1/job-definitions", 400, data=b"{not json")
    assert answer["field"] == "body"


async def test_a_schedule_without_a_time_zone_is_utc(jobs_api: JobsApi) -> None:
    body = definition(schedule={"cron": "0 0 12 * * ?", "timezone": None})
    await jobs_api.call("POST", "/v1/job-definitions", 201, json=body)
    nxt = await jobs_api.call("GET", "/v1/job-definitions/nightly/next?n=1", 200)
    assert nxt["nextFireTimes"][0].endswith("T12:00:00+00:00")


async def test_start_stop_and_the_next_fire_times(jobs_api: JobsApi) -> None:
    await jobs_api.call("POST", "/v1/job-definitions", 201, json=definition())
    started = (await jobs_api.call("POST", "/v1/job-definitions/nightly/_start", 200))["jobDefinition"]
    assert started["state"] == "STARTED"
    assert re.match(r"^\d{4}-\d\d-\d\dT12:00:00\+0[12]:00$", started["nextFireTime"]), started
    nxt = await jobs_api.call("GET", "/v1/job-definitions/nightly/next?n=3", 200)
    assert len(nxt["nextFireTimes"]) == 3
    assert nxt["nextFireTimes"][0] == started["nextFireTime"]
    text = await jobs_api.call(
        "GET",
        "/v1/job-definitions/nightly/next?n=2",
        200,
        headers={**jobs_api.headers, "Accept": "text/plain"},
    )
    assert text.splitlines() == nxt["nextFireTimes"][:2]
    await jobs_api.call("GET", "/v1/job-definitions/nightly/next?n=0", 400)
    stopped = (await jobs_api.call("POST", "/v1/job-definitions/nightly/_stop", 200))["jobDefinition"]
    assert stopped["state"] == "STOPPED" and stopped["nextFireTime"] is None


async def test_an_interval_schedule_keeps_its_local_time_across_dst(jobs_api: JobsApi) -> None:
    schedule = {"every": 1, "unit": "day", "anchor": "2026-03-27T09:15:00", "timezone": "Europe/Berlin"}
    body = definition("daily", schedule=schedule, startDate="2026-03-27T00:00:00")
    jobs_api.clock.offset = dt.datetime(2026, 3, 27, tzinfo=dt.UTC).timestamp() - time.time()
    await jobs_api.call("POST", "/v1/job-definitions", 201, json=body)
    await jobs_api.call("POST", "/v1/job-definitions/daily/_start", 200)
    nxt = await jobs_api.call("GET", "/v1/job-definitions/daily/next?n=3", 200)
    assert nxt["nextFireTimes"] == [
        "2026-03-27T09:15:00+01:00",
        "2026-03-28T09:15:00+01:00",
        "2026-03-29T09:15:00+02:00",  # the day the clocks go forward
    ]
    stored = (await jobs_api.call("GET", "/v1/job-definitions/daily", 200))["jobDefinition"]
    assert stored["schedule"] == schedule


async def test_a_definition_runs_now_whatever_its_state(jobs_api: JobsApi) -> None:
    await jobs_api.call("POST", "/v1/job-definitions", 201, json=definition())
    answer = await jobs_api.call("POST", "/v1/job-definitions/nightly/_execute", 202, json={})
    job = await jobs_api.finished(answer["jobId"])
    assert job["status"] == "COMPLETED" and job["jobDefinitionCode"] == "nightly"
    assert job["trigger"] == "api" and job["scheduledFor"] is None
    listed = await jobs_api.call("GET", "/v1/jobs?jobDefinitionCode=nightly&status=COMPLETED", 200)
    assert [j["jobId"] for j in listed["data"]] == [answer["jobId"]]
    assert "logs" not in listed["data"][0]
    await jobs_api.call("GET", "/v1/jobs?status=DONE", 400)
    since = await jobs_api.call("GET", "/v1/jobs?since=yesterday", 400)
    assert since["field"] == "since" and "got 'yesterday'" in since["message"]
    await jobs_api.call("POST", "/v1/job-definitions/nightly/_execute", 400, data=b"[1]")


async def test_run_immediately_runs_on_start_and_run_once_completes(jobs_api: JobsApi) -> None:
    body = definition(runImmediately=True, runOnce=True)
    await jobs_api.call("POST", "/v1/job-definitions", 201, json=body)
    started = await jobs_api.call("POST", "/v1/job-definitions/nightly/_start", 200)
    assert started["jobDefinition"]["state"] == "COMPLETED"
    job = await jobs_api.finished(started["jobId"])
    assert job["status"] == "COMPLETED" and job["trigger"] == "immediate"


async def test_a_failing_job_is_retried_until_it_succeeds(jobs_api: JobsApi, tmp_path: Path) -> None:
    params = {"counter": str(tmp_path / "count"), "failTimes": 2}
    body = definition("flaky", jobType="flaky", params=params, maxRetries=3, retryBackoffSeconds=0.05)
    await jobs_api.call("POST", "/v1/job-definitions", 201, json=body)
    answer = await jobs_api.call("POST", "/v1/job-definitions/flaky/_execute", 202)
    job = await jobs_api.finished(answer["jobId"])
    assert job["status"] == "COMPLETED", job
    assert [a["outcome"] for a in job["attempts"]] == ["failed", "failed", "succeeded"]
    assert job["attempts"][0]["error"]["message"] == "attempt 1 failed"
    assert job["result"] == {"attempts": 3}


async def test_a_job_fails_once_its_retries_are_spent(jobs_api: JobsApi, tmp_path: Path) -> None:
    params = {"counter": str(tmp_path / "count"), "failTimes": 5}
    body = definition("flaky", jobType="flaky", params=params, maxRetries=1, retryBackoffSeconds=0.05)
    await jobs_api.call("POST", "/v1/job-definitions", 201, json=body)
    answer = await jobs_api.call("POST", "/v1/job-definitions/flaky/_execute", 202)
    job = await jobs_api.finished(answer["jobId"])
    assert job["status"] == "FAILED"
    assert len(job["attempts"]) == 2 and job["error"]["message"] == "attempt 2 failed"


async def test_a_job_past_its_timeout_fails_as_timed_out(jobs_api: JobsApi) -> None:
    body = definition("slow", jobType="sleep", params={"seconds": 60}, timeoutSeconds=0.5)
    await jobs_api.call("POST", "/v1/job-definitions", 201, json=body)
    answer = await jobs_api.call("POST", "/v1/job-definitions/slow/_execute", 202)
    job = await jobs_api.finished(answer["jobId"])
    assert job["status"] == "FAILED"
    assert job["error"]["kind"] == "timed_out"


async def start_sleeper(jobs_api: JobsApi, tmp_path: Path) -> str:
    """A job that sleeps for 60 s, once its worker runs; its id."""
    marker = tmp_path / "started"
    answer = await jobs_api.call(
        "POST", "/v1/job-types/sleep/_execute", 202, json={"params": {"seconds": 60, "started": str(marker)}}
    )

    async def started() -> bool:
        return marker.exists()

    await jobs_api.until(started)
    return str(answer["jobId"])


async def test_a_running_job_is_cancelled(jobs_api: JobsApi, tmp_path: Path) -> None:
    job_id = await start_sleeper(jobs_api, tmp_path)
    cancelled = await jobs_api.call("DELETE", f"/v1/jobs/{job_id}", 200)
    assert cancelled["status"] == "CANCELLED"
    job = await jobs_api.call("GET", f"/v1/jobs/{job_id}", 200)
    assert job["attempts"][-1]["error"] == {"kind": "cancelled", "message": "the job was cancelled"}
    again = await jobs_api.call("DELETE", f"/v1/jobs/{job_id}", 409)
    assert "CANCELLED" in again["message"]
    await jobs_api.call("DELETE", "/v1/jobs/nope", 404)


@pytest.mark.settings(lease_seconds=1.5)
async def test_a_running_job_cancelled_through_the_store_is_stopped_at_the_next_renewal(
    jobs_api: JobsApi, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Another node cancelled it and the event never arrived: the lease renewal finds the
    claim gone and kills the worker (it would sleep for 60 s)."""
    job_id = await start_sleeper(jobs_api, tmp_path)
    runner = jobs_api.node.job_dispatcher
    assert job_id in runner.held()
    store = open_store(jobs_api.settings)
    try:
        principal = store.principal(hash_api_key(jobs_api.keys["ops@example.com"]))
        assert principal is not None
        assert (
            store.cancel_job(principal.tenant_id, job_id, jobs_api.clock(), {"kind": "cancelled"})
            == "STARTED"
        )
    finally:
        store.close()

    async def stopped() -> bool:
        return job_id not in runner.held()

    await jobs_api.until(stopped)  # a renewal every 0.5 s; the worker sleeps for 60 s
    assert f"job {job_id}: no longer this node's claim; stopped" in caplog.text
    job = await jobs_api.call("GET", f"/v1/jobs/{job_id}", 200)
    assert job["status"] == "CANCELLED" and len(job["attempts"]) == 1


async def test_a_lost_job_failed_in_a_commit_the_disk_did_not_confirm_is_over_for_its_pollers(
    jobs_api: JobsApi, tmp_path: Path
) -> None:
    """The reap that failed a lost node's job (no retries left) was committed though the
    sync failed: a long poll of the job hears of it at once, not when its wait runs out."""
    job_id = await start_sleeper(jobs_api, tmp_path)
    runner = jobs_api.node.job_dispatcher
    with contextlib.closing(sqlite3.connect(jobs_api.settings.data_dir / SQLITE_FILE)) as db, db:
        db.execute(  # as if a node that stopped renewing had claimed it
            "UPDATE jobs SET claimed_by = 'gone', lease_until = 0 WHERE id = ?", (job_id,)
        )
    polling = asyncio.ensure_future(jobs_api.call("GET", f"/v1/jobs/{job_id}?wait=30", 200))
    while not runner.ends.waited_for(job_id):  # it listens, then looks: no end is missed
        assert not polling.done(), await polling
        await asyncio.sleep(0.01)
    await jobs_api.node.run(lambda: None)  # its look at the store is done: it found it running
    (jobs_api.settings.data_dir / f"{SQLITE_FILE}-wal").unlink()  # every sync fails from here

    reaped = await runner.reap_once()

    assert reaped.ended == [job_id]
    job = await asyncio.wait_for(polling, 10)  # not its 30 s: told at once
    assert job["status"] == "FAILED", job


async def test_everything_is_scoped_by_tenant(jobs_api: JobsApi) -> None:
    await jobs_api.call("POST", "/v1/job-definitions", 201, json=definition())
    answer = await jobs_api.call("POST", "/v1/job-definitions/nightly/_execute", 202)
    other = jobs_api.add_user("rival@example.com", "rival")
    await jobs_api.call("GET", "/v1/job-definitions/nightly", 404, headers=other)
    await jobs_api.call("GET", f"/v1/jobs/{answer['jobId']}", 404, headers=other)
    await jobs_api.call("DELETE", f"/v1/jobs/{answer['jobId']}", 404, headers=other)
    assert (await jobs_api.call("GET", "/v1/jobs", 200, headers=other))["data"] == []
    # The same code in another tenant is another definition.
    await jobs_api.call("POST", "/v1/job-definitions", 201, json=definition(), headers=other)
    await jobs_api.call("GET", "/v1/jobs", 401, headers={})


async def test_a_started_definition_fires_on_its_schedule(jobs_api: JobsApi) -> None:
    body = definition("every-second", schedule={"cron": "* * * * * ?"})
    await jobs_api.call("POST", "/v1/job-definitions", 201, json=body)
    await jobs_api.call("POST", "/v1/job-definitions/every-second/_start", 200)
    found: list[dict[str, Any]] = []

    async def fired() -> bool:
        listed = await jobs_api.call("GET", "/v1/jobs?jobDefinitionCode=every-second", 200)
        found[:] = [j for j in listed["data"] if j["trigger"] == "schedule"]
        return bool(found)

    await jobs_api.until(fired)
    job = await jobs_api.finished(found[-1]["jobId"])
    assert job["status"] == "COMPLETED" and job["scheduledFor"].endswith(".000+00:00")
    await jobs_api.call("POST", "/v1/job-definitions/every-second/_stop", 200)


async def test_webhooks_are_called_when_a_job_completes_or_fails(jobs_api: JobsApi, tmp_path: Path) -> None:
    received: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def hook(request: web.Request) -> web.Response:
        await received.put(await request.json())
        return web.Response(status=204)

    receiver = web.Application()
    receiver.router.add_post("/hook", hook)
    async with TestServer(receiver, host="127.0.0.1") as server:
        url = str(server.make_url("/hook"))
        options = {"webhooks": {"onCompletion": [url], "onFailure": [url]}, "sendFailureEmail": True}
        await jobs_api.call("POST", "/v1/job-definitions", 201, json=definition(options=options))
        answer = await jobs_api.call("POST", "/v1/job-definitions/nightly/_execute", 202)
        payload = await asyncio.wait_for(received.get(), 20)
        assert payload["event"] == "job.completed"
        assert payload["job"]["jobId"] == answer["jobId"] and payload["job"]["status"] == "COMPLETED"

        failing = {"counter": str(tmp_path / "c"), "failTimes": 9}
        body = definition("fails", jobType="flaky", params=failing, options=options)
        await jobs_api.call("POST", "/v1/job-definitions", 201, json=body)
        await jobs_api.call("POST", "/v1/job-definitions/fails/_execute", 202)
        payload = await asyncio.wait_for(received.get(), 20)
        assert payload["event"] == "job.failed" and payload["job"]["error"]["message"] == "attempt 1 failed"


async def test_call_webservice_endpoint_with_seed_003s_example(jobs_api: JobsApi) -> None:
    seen: dict[str, Any] = {}

    async def query(request: web.Request) -> web.Response:
        seen.update(body=await request.json(), limit=request.query.get("limit"))
        return web.json_response({"hits": ["running shoe"]})

    upstream = web.Application()
    upstream.router.add_post("/_query_", query)
    async with TestServer(upstream, host="127.0.0.1") as server:
        params = {
            "url": str(server.make_url("/_query_")),
            "method": "POST",
            "headers": {"Content-Type": "application/json"},
            "body": {"searchTerms": "running shoe"},
            "searchParams": {"limit": 10},
        }
        answer = await jobs_api.call(
            "POST", "/v1/job-types/callWebserviceEndpoint/_execute", 202, json={"params": params}
        )
        job = await jobs_api.finished(answer["jobId"])
    assert job["status"] == "COMPLETED", job
    assert seen == {"body": {"searchTerms": "running shoe"}, "limit": "10"}
    assert job["result"]["status"] == 200 and job["result"]["body"] == {"hits": ["running shoe"]}
