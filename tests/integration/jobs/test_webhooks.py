"""Webhooks as data, through the real API: sent under the egress policy (refused to
loopback unless the configuration allows it), each delivery recorded on its job, and
their URLs sealed in the store and masked in every answer."""

from __future__ import annotations

import asyncio
import gc
import importlib
import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from connectord.api.webhooks import HttpWebhooks
from connectord.plugins.egress_policy import EgressPolicy
from connectord.runtime.jobs.webhooks import Delivery
from connectord.runtime.secrets import MASK
from connectord.runtime.store import SQLITE_FILE
from connectord.runtime.store.records import JobRecord

from .conftest import JobsApi

TOKEN_PATH = "T0KEN-in-the-path-8f2c"
TOKEN_QUERY = "t0ken-in-the-query-5d1e"


class Receiver:
    """A webhook receiver on loopback: ``/ok`` answers 204, ``/busy`` 503, ``/gone`` 404."""

    def __init__(self, server: TestServer, hits: list[tuple[str, dict[str, Any]]]) -> None:
        self.server, self.hits = server, hits

    def url(self, path: str) -> str:
        return str(self.server.make_url(path))


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    hits: list[tuple[str, dict[str, Any]]] = []

    async def hook(request: web.Request) -> web.Response:
        hits.append((request.path_qs, await request.json()))
        kind = request.path.split("/")[1]
        return web.Response(status={"ok": 204, "busy": 503, "gone": 404}[kind])

    app = web.Application()
    app.router.add_post("/{kind}/{rest:.*}", hook)
    app.router.add_post("/{kind}", hook)
    async with TestServer(app, host="127.0.0.1") as server:
        yield Receiver(server, hits)


def definition(code: str, **webhooks: list[str]) -> dict[str, Any]:
    return {
        "jobDefinition": {
            "jobDefinitionCode": code,
            "jobType": "echo",
            "params": {"message": "hello", "password": "pa55-word-xyz"},
            "options": {"webhooks": webhooks},
        }
    }


async def run_and_wait_for_deliveries(jobs_api: JobsApi, code: str) -> dict[str, Any]:
    """Execute the definition; its job once the deliveries are recorded on it."""
    answer = await jobs_api.call("POST", f"/v1/job-definitions/{code}/_execute", 202)
    job = await jobs_api.finished(answer["jobId"])
    assert job["status"] == "COMPLETED", job
    found: dict[str, Any] = {}

    async def recorded() -> bool:
        found.update(await jobs_api.call("GET", f"/v1/jobs/{answer['jobId']}", 200))
        return "webhooks" in found

    await jobs_api.until(recorded)
    return found


@pytest.mark.settings(egress_allow=())
async def test_webhooks_to_loopback_are_refused_by_default_and_the_refusal_recorded(
    jobs_api: JobsApi, receiver: Receiver
) -> None:
    own_api = str(jobs_api.client.make_url("/v1/accounts"))  # the server's own API
    body = definition("local", onCompletion=[receiver.url("/ok"), own_api])
    await jobs_api.call("POST", "/v1/job-definitions", 201, json=body)
    job = await run_and_wait_for_deliveries(jobs_api, "local")
    refused = "127.0.0.1 is a loopback address; add it to [egress] allow to permit it"
    assert job["webhooks"] == [
        {"webhook": f"onCompletion[{i}]", "host": "127.0.0.1", "event": "job.completed",
         "outcome": "failed", "attempts": 1, "error": refused}
        for i in range(2)
    ]  # fmt: skip
    assert receiver.hits == []


async def test_webhooks_are_delivered_when_allowed_with_each_delivery_recorded(
    jobs_api: JobsApi, receiver: Receiver
) -> None:
    hooks = [receiver.url(f"/ok/{TOKEN_PATH}?token={TOKEN_QUERY}"), receiver.url("/busy")]
    hooks.append(receiver.url("/gone"))
    await jobs_api.call("POST", "/v1/job-definitions", 201, json=definition("allowed", onCompletion=hooks))
    job = await run_and_wait_for_deliveries(jobs_api, "allowed")
    common = {"host": "127.0.0.1", "event": "job.completed"}
    assert job["webhooks"] == [
        {"webhook": "onCompletion[0]", **common, "outcome": "delivered", "attempts": 1, "statusCode": 204},
        {"webhook": "onCompletion[1]", **common, "outcome": "failed", "attempts": 3, "statusCode": 503,
         "error": "HTTP 503"},
        {"webhook": "onCompletion[2]", **common, "outcome": "failed", "attempts": 1, "statusCode": 404,
         "error": "HTTP 404"},
    ]  # fmt: skip
    assert sorted(path for path, _ in receiver.hits) == sorted(
        [f"/ok/{TOKEN_PATH}?token={TOKEN_QUERY}", *["/busy"] * 3, "/gone"]
    )
    assert {payload["job"]["jobId"] for _, payload in receiver.hits} == {job["jobId"]}
    listed = await jobs_api.call("GET", "/v1/jobs?jobDefinitionCode=allowed", 200)
    assert listed["data"][0]["webhooks"] == job["webhooks"]


def stored_bytes(data_dir: Path) -> bytes:
    return b"".join(p.read_bytes() for p in data_dir.glob(f"{SQLITE_FILE}*"))


async def test_webhook_urls_are_sealed_at_rest_masked_in_answers_and_kept_when_sent_back(
    jobs_api: JobsApi, receiver: Receiver
) -> None:
    secret_url = receiver.url(f"/ok/{TOKEN_PATH}?token={TOKEN_QUERY}")
    created = await jobs_api.client.post(
        "/v1/job-definitions", json=definition("sealed", onCompletion=[secret_url]), headers=jobs_api.headers
    )
    assert created.status == 201
    answers = [await created.text()]
    shown = await jobs_api.call("GET", "/v1/job-definitions/sealed", 200)
    assert shown["jobDefinition"]["options"]["webhooks"] == {"onCompletion": [MASK], "onFailure": []}
    answers.append(await (await jobs_api.client.get("/v1/job-definitions", headers=jobs_api.headers)).text())
    for token in (TOKEN_PATH, TOKEN_QUERY):
        assert all(token not in answer for answer in answers)
        assert token.encode() not in stored_bytes(jobs_api.settings.data_dir)

    # What a client read, sent back with a change: the stored URL stays.
    options = shown["jobDefinition"]["options"]
    patch = {"jobDefinition": {"description": "changed", "options": options}}
    patched = await jobs_api.call("PATCH", "/v1/job-definitions/sealed", 200, json=patch)
    assert patched["jobDefinition"]["options"]["webhooks"]["onCompletion"] == [MASK]
    job = await run_and_wait_for_deliveries(jobs_api, "sealed")
    assert [path for path, _ in receiver.hits] == [f"/ok/{TOKEN_PATH}?token={TOKEN_QUERY}"]
    assert job["webhooks"][0]["outcome"] == "delivered" and TOKEN_PATH not in str(job)
    assert TOKEN_PATH.encode() not in stored_bytes(jobs_api.settings.data_dir)

    # A mask where nothing is stored cannot stand for a URL.
    twice = {"jobDefinition": {"options": {"webhooks": {"onCompletion": [MASK, MASK]}}}}
    refused = await jobs_api.call("PATCH", "/v1/job-definitions/sealed", 400, json=twice)
    assert refused["field"] == "jobDefinition.options.webhooks.onCompletion[1]"


async def test_webhooks_stored_in_plain_text_before_an_upgrade_are_masked_then_sealed(
    jobs_api: JobsApi, receiver: Receiver
) -> None:
    secret_url = receiver.url(f"/ok/{TOKEN_PATH}")
    await jobs_api.call("POST", "/v1/job-definitions", 201, json=definition("legacy"))
    store = sqlite3.connect(jobs_api.settings.data_dir / SQLITE_FILE)
    try:
        # As the previous version stored it: the URL in the document, nothing sealed.
        (document,) = store.execute("SELECT document FROM job_definitions WHERE code = 'legacy'").fetchone()
        spec = json.loads(document)
        spec["options"]["webhooks"]["onCompletion"] = [secret_url]
        with store:
            store.execute(
                "UPDATE job_definitions SET document = ?, sealed_webhooks = NULL WHERE code = 'legacy'",
                (json.dumps(spec).encode(),),
            )
        shown = await jobs_api.call("GET", "/v1/job-definitions/legacy", 200)
        assert shown["jobDefinition"]["options"]["webhooks"]["onCompletion"] == [MASK]

        assert await jobs_api.jobs.seal_plain_webhooks() == 1  # what a server does when it starts
        assert await jobs_api.jobs.seal_plain_webhooks() == 0
        (document, sealed) = store.execute(
            "SELECT document, sealed_webhooks FROM job_definitions WHERE code = 'legacy'"
        ).fetchone()
    finally:
        store.close()
    assert TOKEN_PATH.encode() not in document and TOKEN_PATH.encode() not in sealed
    job = await run_and_wait_for_deliveries(jobs_api, "legacy")
    assert job["webhooks"][0]["outcome"] == "delivered"
    assert [path for path, _ in receiver.hits] == [f"/ok/{TOKEN_PATH}"]


def store_webhooks(jobs_api: JobsApi, code: str, webhooks: dict[str, list[str]], **options: Any) -> None:
    """Give definition ``code`` what an earlier version may have stored, past the checks and
    limits of today: ``webhooks`` sealed, ``options`` in its document."""
    store = sqlite3.connect(jobs_api.settings.data_dir / SQLITE_FILE)
    try:
        (document,) = store.execute("SELECT document FROM job_definitions WHERE code = ?", (code,)).fetchone()
        spec = json.loads(document)
        spec["options"].update(options)
        with store:
            store.execute(
                "UPDATE job_definitions SET document = ?, sealed_webhooks = ? WHERE code = ?",
                (json.dumps(spec).encode(), jobs_api.box.seal_json(webhooks), code),
            )
    finally:
        store.close()


def no_unretrieved_task_exceptions(caplog: pytest.LogCaptureFixture) -> bool:
    gc.collect()  # asyncio reports a failed task nobody awaited when it is collected
    return not [r for r in caplog.records if "never retrieved" in r.getMessage()]


async def test_bad_urls_stored_before_the_checks_are_failed_deliveries_beside_the_good_ones(
    jobs_api: JobsApi, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    """A URL no request can be sent to (as an earlier version accepted them) is recorded as a
    failed delivery, saying why without the URL; the other URLs of its list are delivered
    and recorded (an exception of one used to lose every record of the job)."""
    await jobs_api.call(
        "POST", "/v1/job-definitions", 201, json=definition("odd", onCompletion=[receiver.url("/ok")])
    )
    bad = [
        "http://[SECRETIPV6/",
        "http://" + "a" * 70 + ".example/SECRETLONGLABEL",
        "http://x..example/SECRETDOTS",
        "http://x.example:99999/SECRETPORT",
        "http:///SECRETNOHOST",
        "http://exa mple.com/SECRETSPACE",
        "http://%41%42/SECRETPCT",
    ]
    hooks = [receiver.url("/ok/first"), *bad, receiver.url("/ok/last")]
    store_webhooks(jobs_api, "odd", {"onCompletion": hooks, "onFailure": []})

    job = await run_and_wait_for_deliveries(jobs_api, "odd")
    deliveries = job["webhooks"]
    assert [d["webhook"] for d in deliveries] == [f"onCompletion[{i}]" for i in range(len(hooks))]
    ends = [deliveries[0], deliveries[-1]]
    assert [(d["outcome"], d["host"], d["statusCode"]) for d in ends] == [("delivered", "127.0.0.1", 204)] * 2
    for delivery in deliveries[1:-1]:
        assert delivery["outcome"] == "failed" and delivery["attempts"] == 1, delivery
        assert delivery["host"] == "" and delivery["error"].startswith("invalid URL: "), delivery
    assert "SECRET" not in json.dumps(job) and "SECRET" not in caplog.text
    assert sorted(path for path, _ in receiver.hits) == ["/ok/first", "/ok/last"]
    assert no_unretrieved_task_exceptions(caplog)


async def test_a_url_the_http_client_refuses_is_a_failed_delivery_never_lost(
    jobs_api: JobsApi, receiver: Receiver, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Should a URL pass the checks and still make the HTTP client (or the sender itself)
    raise, that URL's delivery is recorded as failed, and the others as they went."""
    checks = "connectord.runtime.jobs.webhook_urls"
    monkeypatch.setattr(f"{checks}.problem", lambda url: None)  # a gap in the checks
    real_host_of = importlib.import_module(checks).host_of

    def host_of(url: str) -> str:  # a bug in the sender, for one URL
        if "BOOM" in url:
            raise RuntimeError("SECRETBOOM")
        return real_host_of(url)

    monkeypatch.setattr(f"{checks}.host_of", host_of)
    hooks = [
        "http://" + "a" * 70 + ".example/SECRETLONGLABEL",
        receiver.url("/ok/BOOM"),
        "http://[SECRETIPV6/",
        receiver.url("/ok"),
    ]
    await jobs_api.call("POST", "/v1/job-definitions", 201, json=definition("gap", onCompletion=hooks))

    job = await run_and_wait_for_deliveries(jobs_api, "gap")
    outcomes = [(d["webhook"], d["outcome"]) for d in job["webhooks"]]
    assert outcomes == [
        ("onCompletion[0]", "failed"),
        ("onCompletion[1]", "failed"),
        ("onCompletion[2]", "failed"),
        ("onCompletion[3]", "delivered"),
    ]
    assert [d["attempts"] for d in job["webhooks"][:3]] == [1, 1, 1]  # not asked again
    assert job["webhooks"][1]["error"] == "RuntimeError"
    assert "SECRET" not in json.dumps(job) and "SECRET" not in caplog.text
    assert [path for path, _ in receiver.hits] == ["/ok"]
    assert no_unretrieved_task_exceptions(caplog)


async def test_more_webhooks_than_the_limit_stored_before_it_are_read_and_only_the_first_ten_sent(
    jobs_api: JobsApi, receiver: Receiver
) -> None:
    """A definition an earlier version stored with more webhooks (or e-mail addresses) than
    may now be sent is still shown and run, but only its first 10 webhooks are called; a
    change must bring it within the limits."""
    await jobs_api.call("POST", "/v1/job-definitions", 201, json=definition("many"))
    hooks = [receiver.url(f"/ok/{i}") for i in range(12)]
    emails = [f"u{i}@example.com" for i in range(150)]
    store_webhooks(jobs_api, "many", {"onCompletion": hooks, "onFailure": []}, emailList=emails)

    shown = (await jobs_api.call("GET", "/v1/job-definitions/many", 200))["jobDefinition"]
    assert shown["options"]["webhooks"]["onCompletion"] == [MASK] * 12
    assert shown["options"]["emailList"] == emails
    listed = await jobs_api.call("GET", "/v1/job-definitions", 200)
    assert [d["jobDefinitionCode"] for d in listed["data"]] == ["many"]

    job = await run_and_wait_for_deliveries(jobs_api, "many")
    assert [d["webhook"] for d in job["webhooks"]] == [f"onCompletion[{i}]" for i in range(10)]
    assert sorted(path for path, _ in receiver.hits) == sorted(f"/ok/{i}" for i in range(10))

    rename = {"jobDefinition": {"name": "renamed"}}
    refused = await jobs_api.call("PATCH", "/v1/job-definitions/many", 400, json=rename)
    assert refused["field"] == "jobDefinition.options.emailList"  # the first field past its limit
    within = {"jobDefinition": {"options": {"webhooks": {"onCompletion": [MASK] * 10}}}}
    patched = await jobs_api.call("PATCH", "/v1/job-definitions/many", 200, json=within)
    assert patched["jobDefinition"]["options"]["webhooks"]["onCompletion"] == [MASK] * 10
    assert patched["jobDefinition"]["options"]["emailList"] == []


async def test_one_tenants_webhooks_to_a_receiver_that_never_answers_hold_up_no_other_tenant(
    receiver: Receiver,
) -> None:
    """All tenants' deliveries shared one pool of 100 connections, and a request's timeout
    counts its wait for one: a tenant's webhooks to a receiver that never answers made
    another's, to a healthy receiver, time out. Each tenant has a pool of its own now."""
    given_up: list[int] = []  # each connection the sender gave up on, once it has

    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await reader.read(65536):  # until the sender closes it
            pass
        given_up.append(1)
        writer.close()

    silent = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    silent_port = silent.sockets[0].getsockname()[1]
    allowed = [f"127.0.0.1:{silent_port}", f"127.0.0.1:{receiver.server.port}"]
    sender = HttpWebhooks(EgressPolicy.parse(allowed), timeout=3.0, attempts=1)
    quiet: list[Delivery] = []
    waited: list[bool] = []
    recorded = asyncio.Event()

    async def record(deliveries: list[Delivery]) -> None:
        quiet.extend(deliveries)
        waited.append(bool(given_up))  # for a connection the other tenant let go of?
        recorded.set()

    async def ignore(deliveries: list[Delivery]) -> None:
        pass

    try:
        flood = [(f"onFailure[{i}]", f"http://127.0.0.1:{silent_port}/hang/{i}") for i in range(250)]
        sender.send(flood, _job("busy"), "FAILED", ignore)
        await asyncio.sleep(0.3)  # its connections are open and waiting
        sender.send([("onCompletion[0]", receiver.url("/ok"))], _job("quiet"), "COMPLETED", record)
        async with asyncio.timeout(30):
            await recorded.wait()
    finally:
        await sender.close()
        silent.close()
    assert [d.outcome for d in quiet] == ["delivered"] and waited == [False]


def _job(tenant: str) -> JobRecord:
    return JobRecord(
        id=f"job-{tenant}", tenant_id=tenant, definition_id="d", definition_code="c", job_type="echo",
        account_id=None, trigger="api", scheduled_for=None, status="COMPLETED", overlap="skip", attempt=1,
        max_retries=0, backoff=0.0, timeout=None, run_at=None, retry_until=None, attempts=b"[]",
        result=None, logs=None, created_at=0.0, started_at=0.0, finished_at=1.0,
    )  # fmt: skip
