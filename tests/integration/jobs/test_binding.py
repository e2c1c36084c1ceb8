"""A definition stays bound to the connector that owned its job type when it was made.

A server whose sandbox loads the jobber test connector stores definitions of jobber's job
types; then a server on the same store loads, instead of jobber, the impostor test
connector, which declares the same job type codes and writes down whatever it is given.
The definitions' jobs fail with a clear error, and the impostor never runs."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import msgspec
import pytest

from connectord.plugins.manager import Selection
from connectord.runtime.secrets import MASK, hash_api_key
from connectord.runtime.store import SQLITE_FILE, open_store

from .conftest import JobsApi, ServeJobs

SOURCE = Path(__file__).with_name("impostor_connector.py")
IMPOSTOR = Selection(allow=frozenset({"impostor", "webservice"}))  # jobber is not loaded
NO_RUN = {"cron": "0 0 0 1 1 ? 2099"}  # started, but nothing fires during a test


@pytest.fixture
def impostor_site(
    connector_site: Callable[[str, Path, dict[str, str]], Path],
    site_on_path: Callable[[Path], AbstractContextManager[None]],
) -> Iterator[Path]:
    """The impostor installed (a site of this test's own: its trace file is this test's)."""
    site = connector_site("connectord_impostor", SOURCE, {"impostor": "connectord_impostor"})
    with site_on_path(site):
        yield site


@pytest.fixture
def switched(jobs_api: JobsApi, serve_jobs: ServeJobs, impostor_site: Path) -> Switch:
    return Switch(jobs_api, serve_jobs, impostor_site)


class Switch:
    """The jobber server (``before``); ``after()`` stops it and starts the impostor's."""

    def __init__(self, before: JobsApi, serve_jobs: ServeJobs, site: Path) -> None:
        self.before, self.serve_jobs, self.trace = before, serve_jobs, site / "impostor-ran.jsonl"

    async def after(self) -> JobsApi:
        await self.before.client.close()  # stops its scheduler, runner and sandbox
        api = await self.serve_jobs(self.before.settings, IMPOSTOR)
        api.headers, api.keys = self.before.headers, self.before.keys
        return api

    def impostor_ran(self) -> list[dict[str, Any]]:
        if not self.trace.exists():
            return []
        return [json.loads(line) for line in self.trace.read_text().splitlines()]


def echo_definition(code: str = "nightly", **fields: Any) -> dict[str, Any]:
    body = {
        "jobDefinitionCode": code,
        "jobType": "echo",
        "params": {"message": "hello", "password": "pa55-word-xyz"},
        "schedule": NO_RUN,
        "maxRetries": 3,
        **fields,
    }
    return {"jobDefinition": body}


def last_error(job: dict[str, Any]) -> dict[str, Any]:
    error: dict[str, Any] = job["attempts"][-1]["error"]
    return error


async def test_a_definitions_jobs_never_run_in_a_connector_that_took_its_job_type(switched: Switch) -> None:
    before = switched.before
    created = await before.call("POST", "/v1/job-definitions", 201, json=echo_definition())
    assert created["jobDefinition"]["component"] == "jobber"
    await before.call("POST", "/v1/job-definitions/nightly/_start", 200)

    after = await switched.after()
    job_type = await after.call("GET", "/v1/job-types/echo", 200)
    assert job_type["component"] == "impostor"
    listed = await after.call("GET", "/v1/job-types", 200)
    assert {t["code"]: t["component"] for t in listed["data"]}["echo"] == "impostor"
    stored = (await after.call("GET", "/v1/job-definitions/nightly", 200))["jobDefinition"]
    assert stored["component"] == "jobber"
    # the impostor marks nothing secret: as for a job type not installed, every value is
    # masked, since the connector that knew which ones are secret is not there to say
    assert stored["params"] == {"message": MASK, "password": MASK}

    answer = await after.call("POST", "/v1/job-definitions/nightly/_execute", 202, json={})
    job = await after.finished(answer["jobId"])
    assert job["status"] == "FAILED"
    assert len(job["attempts"]) == 1  # no retry mends it (maxRetries 3)
    assert last_error(job) == {
        "kind": "rejected",
        "error_type": "ConnectorChanged",
        "message": "job type echo now belongs to connector 'impostor', not 'jobber' which this "
        "definition was created with (connector 'jobber' is not loaded); recreate the definition "
        "to use it",
    }
    assert job["result"] is None
    # a change that keeps the job type is refused too: recreate the definition
    refused = await after.call(
        "PATCH", "/v1/job-definitions/nightly", 409, json={"jobDefinition": {"name": "renamed"}}
    )
    assert "now belongs to connector 'impostor'" in refused["message"]

    # what the impostor leaves when it does run: a new definition is its own
    await after.call("POST", "/v1/job-definitions", 201, json=echo_definition("fresh"))
    fresh = await after.call("POST", "/v1/job-definitions/fresh/_execute", 202, json={})
    assert (await after.finished(fresh["jobId"]))["status"] == "COMPLETED"
    assert [(r["job_type"], r["params"]["password"]) for r in switched.impostor_ran()] == [
        ("echo", "pa55-word-xyz")
    ]  # only the new definition's run: the old one's params never reached it


async def test_an_accounts_credentials_never_reach_a_connector_that_took_the_job_type(
    switched: Switch,
) -> None:
    before = switched.before
    account = before.add_account("ops@example.com", {"token": "tok-3141592653"}, "jobber")
    body = {"jobDefinition": {"jobDefinitionCode": "who", "jobType": "whoami", "accountId": account}}
    created = await before.call("POST", "/v1/job-definitions", 201, json=body)
    assert created["jobDefinition"]["component"] == "jobber"

    after = await switched.after()
    answer = await after.call("POST", "/v1/job-definitions/who/_execute", 202, json={})
    job = await after.finished(answer["jobId"])
    assert job["status"] == "FAILED" and last_error(job)["error_type"] == "ConnectorChanged"
    assert "tok-3141592653" not in json.dumps(job)
    assert switched.impostor_ran() == []


async def test_a_process_started_through_seed_004_stays_bound(switched: Switch) -> None:
    before = switched.before
    body = {"name": "echo", "values": {"message": "hi"}, "quartzDef": "0 0 0 1 1 ? 2099"}
    spid = (await before.call("POST", "/scheduler/connector-api/process/start", 200, json=body))[
        "robustaSpid"
    ]
    definition = (await before.call("GET", f"/v1/job-definitions/{spid}", 200))["jobDefinition"]
    assert definition["component"] == "jobber"

    after = await switched.after()
    await after.call("POST", f"/v1/job-definitions/{spid}/_execute", 202, json={})

    async def failed() -> bool:
        status = await after.call("GET", f"/scheduler/connector-api/process/status/{spid}", 200)
        return bool(status["status"] == "FAILED")

    await after.until(failed)
    status = await after.call("GET", f"/scheduler/connector-api/process/status/{spid}", 200)
    assert "now belongs to connector 'impostor', not 'jobber'" in status["message"]
    assert switched.impostor_ran() == []


async def test_a_job_never_gets_the_keys_of_an_account_of_another_component(jobs_api: JobsApi) -> None:
    account = jobs_api.add_account("ops@example.com", {"token": "tok-2718281828"}, "jobber")
    body = {"jobDefinition": {"jobDefinitionCode": "who", "jobType": "whoami", "accountId": account}}
    await jobs_api.call("POST", "/v1/job-definitions", 201, json=body)
    # the account is moved to another component after the definition was made
    store = open_store(jobs_api.settings)
    try:
        principal = store.principal(hash_api_key(jobs_api.keys["ops@example.com"]))
        assert principal is not None
        stored = store.account(principal.tenant_id, account)
        assert stored is not None
        moved = msgspec.structs.replace(stored, component="webservice", updated_at=time.time())
        assert store.update_account(moved)
    finally:
        store.close()
    answer = await jobs_api.call("POST", "/v1/job-definitions/who/_execute", 202, json={})
    job = await jobs_api.finished(answer["jobId"])
    assert job["status"] == "FAILED" and job["result"] is None
    assert last_error(job) == {
        "kind": "rejected",
        "error_type": "AccountMismatch",
        "message": f"account '{account}' belongs to component 'webservice'; job type 'whoami' runs "
        "in 'jobber', which never gets another component's credentials",
    }


async def test_definitions_of_before_are_bound_when_a_server_starts(
    jobs_api: JobsApi, serve_jobs: ServeJobs
) -> None:
    await jobs_api.call("POST", "/v1/job-definitions", 201, json=echo_definition())
    await jobs_api.client.close()
    # as a store migrated from a version that did not record connectors leaves it
    with sqlite3.connect(jobs_api.settings.data_dir / SQLITE_FILE) as conn:
        assert conn.execute("UPDATE job_definitions SET connector = NULL").rowcount == 1
    restarted = await serve_jobs(jobs_api.settings, Selection(allow=frozenset({"jobber", "webservice"})))
    restarted.headers, restarted.keys = jobs_api.headers, jobs_api.keys
    stored = (await restarted.call("GET", "/v1/job-definitions/nightly", 200))["jobDefinition"]
    assert stored["component"] == "jobber"
    answer = await restarted.call("POST", "/v1/job-definitions/nightly/_execute", 202, json={})
    assert (await restarted.finished(answer["jobId"]))["status"] == "COMPLETED"
