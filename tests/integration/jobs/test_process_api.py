"""Seed 004's process scheduler API, mapped onto job definitions and jobs."""

from __future__ import annotations

import datetime as dt
import json

from .conftest import JobsApi

#: The document's example body, as it is written there: a duplicated key in values, a
#: two-letter day name, "run immediately" with a space and a stray comma in its value.
DOCUMENT_BODY = """{"values": {"username": "Username", "username": "User Surname"},
"quartzDef": "0 6 6 ? * FR",
"startDate": "2020-11-16 16:56:00",
"endDate": "2020-11-18 16:55:00",
"runOnce": "N",
"run immediately": "N,",
"retryCount": "1",
"name": "OneStepNotepadRunner"}"""


async def test_the_documents_example_body_is_saved_and_waits(jobs_api: JobsApi) -> None:
    answer = await jobs_api.call(
        "POST",
        "/scheduler/connector-API/process/start",
        200,
        data=DOCUMENT_BODY,
        headers={**jobs_api.headers, "Content-Type": "application/json"},
    )
    assert answer["message"] == "Process saved"
    # Its window (Monday 16 to Wednesday 18 November 2020) holds no Friday, and has passed.
    assert "will not run" in answer["warning"]
    spid = answer["robustaSpid"]
    status = await jobs_api.call("GET", f"/scheduler/connector-api/process/status/{spid}", 200)
    assert status["status"] == "WAITING" and "will not" in status["message"]
    # It is a job definition like any other: Friday 06:06:00 is Quartz day 6, the dates are UTC.
    definition = (await jobs_api.call("GET", f"/v1/job-definitions/{spid}", 200))["jobDefinition"]
    assert definition["jobType"] == "OneStepNotepadRunner" and definition["maxRetries"] == 1
    assert definition["schedule"]["cron"] == "0 6 6 ? * FR"
    assert definition["params"] == {"username": "User Surname"}


async def test_a_scheduled_process_waits_for_its_next_fire_time(jobs_api: JobsApi) -> None:
    body = {"values": {"a": "b"}, "quartzDef": "0 6 6 ? * FR", "name": "OneStepNotepadRunner"}
    answer = await jobs_api.call("POST", "/scheduler/connector-api/process/start", 200, json=body)
    assert "warning" not in answer
    status = await jobs_api.call(
        "GET", f"/scheduler/connector-api/process/status/{answer['robustaSpid']}", 200
    )
    assert status["status"] == "WAITING"
    # Friday (Quartz day 6 is FR) at 06:06:00 UTC
    when = dt.datetime.fromisoformat(status["nextFireTime"])
    assert (when.weekday(), when.hour, when.minute, when.second) == (4, 6, 6, 0)


async def test_run_immediately_runs_and_status_carries_the_outputs(jobs_api: JobsApi) -> None:
    body = {
        "values": {"first": "Ada", "last": "Lovelace"},
        "runImmediately": "Y",
        "runOnce": "Y",
        "retryCount": 0,
        "name": "OneStepNotepadRunner",
        "worker": "7",
    }
    answer = await jobs_api.call("POST", "/scheduler/connector-api/process/start", 200, json=body)
    spid = answer["robustaSpid"]
    definition = await jobs_api.call("GET", f"/v1/job-definitions/{spid}", 200)
    assert definition["jobDefinition"]["state"] == "COMPLETED"
    job = (await jobs_api.call("GET", f"/v1/jobs?jobDefinitionCode={spid}", 200))["data"][0]
    await jobs_api.finished(job["jobId"])
    status = await jobs_api.call("GET", f"/scheduler/connector-api/process/status/{spid}", 200)
    assert status == {
        "status": "SUCCEEDED",
        "message": "Your transaction has ended.",
        "jobId": job["jobId"],
        "__out_x": "Ada Lovelace",
    }


async def test_bad_process_starts_name_the_documents_field(jobs_api: JobsApi) -> None:
    path = "/scheduler/connector-api/process/start"
    cases = [
        ({"name": "NoSuchProcess"}, "name"),
        ({"name": "OneStepNotepadRunner", "quartzDef": "0 6 6 ? * XX"}, "quartzDef"),
        ({"name": "OneStepNotepadRunner", "runOnce": "maybe"}, "runOnce"),
        ({"name": "OneStepNotepadRunner", "retryCount": "many"}, "retryCount"),
        (
            {"name": "OneStepNotepadRunner", "quartzDef": "0 0 12 ? * *", "startDate": "16.11.2020"},
            "startDate",
        ),
        ({"values": {}}, "name"),
    ]
    for body, field in cases:
        answer = await jobs_api.call("POST", path, 400, data=json.dumps(body))
        assert answer["field"] == field, (body, answer)
    missing = await jobs_api.call("GET", "/scheduler/connector-api/process/status/nope", 404)
    assert missing["message"] == "Process does not exist."


async def test_a_process_can_name_the_account_its_job_type_needs(jobs_api: JobsApi) -> None:
    account = jobs_api.add_account("ops@example.com", {"token": "abcdefgh"}, "jobber")
    body = {"name": "whoami", "runImmediately": "Y", "accountId": account}
    spid = (await jobs_api.call("POST", "/scheduler/connector-api/process/start", 200, json=body))[
        "robustaSpid"
    ]
    job = (await jobs_api.call("GET", f"/v1/jobs?jobDefinitionCode={spid}", 200))["data"][0]
    finished = await jobs_api.finished(job["jobId"])
    assert finished["result"] == {"token_length": 8}
    refused = await jobs_api.call(
        "POST", "/scheduler/connector-api/process/start", 400, json={"name": "whoami"}
    )
    assert refused["field"] == "accountId"
    zone = {"name": "OneStepNotepadRunner", "quartzDef": "0 0 12 ? * *", "timezone": "Mars/Base"}
    bad_zone = await jobs_api.call("POST", "/scheduler/connector-api/process/start", 400, json=zone)
    assert bad_zone["field"] == "timezone" and "schedule." not in bad_zone["message"]
