"""Issue 14: every request answered as documented, through a real server and sandbox — no
500 for odd bytes or bodies, every 400 naming its field or header, routes and the document
agreeing, malformed HTTP as one warning line, short secrets redacted, X-Customer-Code."""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import time
import uuid
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from connectord.runtime.secrets import hash_api_key
from connectord.runtime.store import open_store
from connectord.runtime.store.records import NewJob

from .conftest import Api

ALICE = "alice@acme.test"


async def raw_request(api: Api, request: bytes) -> tuple[int, bytes]:
    """Send bytes as they are (no client library would send them) and read the answer."""
    server = api.client.server
    reader, writer = await asyncio.open_connection(server.host, server.port)
    try:
        writer.write(request)
        await writer.drain()
        answer = await reader.read()  # every request here closes the connection
    finally:
        writer.close()
    status_line, _, _ = answer.partition(b"\r\n")
    return int(status_line.split()[1]), answer.partition(b"\r\n\r\n")[2]


def errors_logged(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info or r.exc_text]


async def served_document(api: Api) -> dict[str, Any]:
    response = await api.client.get("/v1/openapi.json")
    assert response.status == 200
    return await response.json()  # type: ignore[no-any-return]


def schema_validator(doc: dict[str, Any], name: str) -> Draft202012Validator:
    base = "urn:connectord:openapi"
    registry: Registry = Registry().with_resource(base, Resource.from_contents(doc, DRAFT202012))
    return Draft202012Validator({"$ref": f"{base}#/components/schemas/{name}"}, registry=registry)


# -- no 500 -------------------------------------------------------------------------------


async def test_a_key_that_is_not_utf8_is_401_not_500(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    api.add_user(ALICE, "acme")
    for header in (b"Bearer \xff", b"Bearer k\xc3\xa9y", b"Basic " + b"\xff" * 8):
        status, body = await raw_request(
            api,
            b"GET /v1/accounts HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: "
            + header
            + b"\r\n\r\n",
        )
        assert status == 401, (header, body)
        assert json.loads(body) == {"message": "Invalid credentials."}
    assert errors_logged(caplog) == []


async def test_bodies_are_read_as_their_content_encoding_says(api: Api) -> None:
    alice = api.add_user(ALICE, "acme")
    account = {"name": "main", "component": "echo", "keys": {"token": "tok-1", "mode": "ok"}}
    zipped = {**alice, "Content-Encoding": "gzip", "Content-Type": "application/json"}
    good = await api.client.post(
        "/v1/accounts", data=gzip.compress(json.dumps(account).encode()), headers=zipped
    )
    assert good.status == 201, await good.text()
    for encoding, data in [
        ("gzip", b"not gzip at all"),
        ("deflate", b"nor deflate"),
        ("br", b"\x0b\x02\x80{}"),
    ]:
        bad = await api.client.post(
            "/v1/accounts", data=data, headers={**alice, "Content-Encoding": encoding}
        )
        assert bad.status == 400, encoding
        assert (await bad.json())["field"] == "Content-Encoding"
    # a small body that decodes to more than the server accepts: 413, as an undecoded one
    bomb = gzip.compress(b" " * (api.settings.max_body_bytes + 1))
    too_large = await api.client.post("/v1/exec/schedule", data=bomb, headers=zipped)
    assert too_large.status == 413


# -- every 400 names its field --------------------------------------------------------------


@pytest.mark.components("echo", "webservice")
async def test_numbers_out_of_range_are_named(api: Api) -> None:
    alice = api.add_user(ALICE, "acme")
    definition = {"jobDefinitionCode": "nightly", "jobType": "callWebserviceEndpoint",
                  "params": {"url": "https://example.com/"}}  # fmt: skip

    async def field_of(method: str, path: str, raw: bytes) -> str:
        response = await api.client.request(method, path, data=raw, headers=alice)
        assert response.status == 400, await response.text()
        return (await response.json())["field"]  # type: ignore[no-any-return]

    assert (
        await field_of(
            "POST",
            "/v1/job-definitions",
            b'{"jobDefinition": {"jobDefinitionCode": "x", "maxRetries": 1e400}}',
        )
        == "jobDefinition.maxRetries"
    )
    assert (
        await field_of(
            "POST",
            "/v1/job-definitions",
            b'{"jobDefinition": {"schedule": {"every": -1e400, "unit": "hour"}}}',
        )
        == "jobDefinition.schedule.every"
    )
    created = await api.client.post("/v1/job-definitions", json={"jobDefinition": definition}, headers=alice)
    assert created.status == 201
    assert (
        await field_of(
            "PATCH", "/v1/job-definitions/nightly", b'{"jobDefinition": {"retryBackoffSeconds": 1e999}}'
        )
        == "jobDefinition.retryBackoffSeconds"
    )
    account = b'{"name": "a", "component": "echo", "keys": {"mode": 18446744073709551616}}'
    assert await field_of("POST", "/v1/accounts", account) == "keys.mode"
    wide = b'{"params": {"url": "https://example.com/", "searchParams": {"n": 18446744073709551616}}}'
    deep = b"[" * 400 + b"18446744073709551616" + b"]" * 400  # found without recursion
    nested = b'{"execution_type": "verify_credentials", "component": "echo", "account_data": {"x": %b}}'
    nested %= deep
    assert await field_of("POST", "/v1/exec/schedule", nested) == "account_data.x" + "[0]" * 400
    execute = "/v1/job-types/callWebserviceEndpoint/_execute"
    assert await field_of("POST", execute, wide) == "params.searchParams.n"
    nul = b'{"name": "a\\u0000", "component": "echo", "keys": {}}'  # a NUL no store keeps
    assert await field_of("POST", "/v1/accounts", nul) == "name"
    schedule = (
        b'{"execution_type": "verify_credentials", "component": "echo", "account_data": {"n": [1, 2e1000]}}'
    )
    assert await field_of("POST", "/v1/exec/schedule", schedule) == "account_data.n[1]"


@pytest.mark.components("echo", "webservice")
async def test_whole_numbers_written_as_floats_are_integers(api: Api) -> None:
    """JSON Schema's ``integer`` admits 3.0, as the document says."""
    alice = api.add_user(ALICE, "acme")
    definition = {
        "jobDefinitionCode": "floats",
        "jobType": "callWebserviceEndpoint",
        "params": {"url": "https://example.com/"},
        "maxRetries": 3.0,
        "historyMaxCount": 10.0,
        "schedule": {"every": 2.0, "unit": "hour"},
    }
    created = await api.client.post("/v1/job-definitions", json={"jobDefinition": definition}, headers=alice)
    assert created.status == 201, await created.text()
    answer = (await created.json())["jobDefinition"]
    assert (answer["maxRetries"], answer["historyMaxCount"]) == (3, 10)
    half = {**definition, "jobDefinitionCode": "half", "maxRetries": 2.5}
    refused = await api.client.post("/v1/job-definitions", json={"jobDefinition": half}, headers=alice)
    assert refused.status == 400 and (await refused.json())["field"] == "jobDefinition.maxRetries"


# -- routes and the document ----------------------------------------------------------------


async def test_the_schedule_path_is_post_only(api: Api) -> None:
    alice = api.add_user(ALICE, "acme")
    for method in ("DELETE", "GET", "PUT"):
        response = await api.client.request(method, "/v1/exec/schedule", headers=alice)
        assert response.status == 405, method
        assert response.headers["Allow"] == "POST", method
    cancel = await api.client.delete("/v1/exec/0123456789abcdef", headers=alice)
    assert cancel.status == 404  # still the cancel route for an id
    doc = await served_document(api)
    assert set(doc["paths"]["/v1/exec/schedule"]) == {"post"}
    assert doc["paths"]["/v1/exec/{execution_id}"]["delete"]["responses"]["405"]


async def test_a_job_failed_by_a_lost_node_says_so_as_documented(api: Api) -> None:
    alice = api.add_user(ALICE, "acme")
    store = open_store(api.settings)
    try:
        principal = store.principal(hash_api_key(api.users[ALICE]))
        assert principal is not None
        later = time.time() + 10**6  # not due for the server's own dispatcher
        job_id = f"20261207-{uuid.uuid4()}"  # the form of the ids the server makes
        store.add_job(NewJob(job_id, principal.tenant_id, "ping", "api", "WAITING", later, run_at=later))
        assert store.claim_job(later, "a-node-that-dies", later + 1) is not None
        assert store.reap_jobs(later + 2).ended == [job_id]
    finally:
        store.close()
    response = await api.client.get(f"/v1/jobs/{job_id}", headers=alice)
    job = await response.json()
    assert job["status"] == "FAILED" and job["error"]["kind"] == "node_lost"
    doc = await served_document(api)
    errors = [e.message for e in schema_validator(doc, "Job").iter_errors(job)]
    assert errors == []


@pytest.mark.settings(max_poll_wait=0.5)
async def test_a_long_wait_is_capped_not_refused(api: Api) -> None:
    alice = api.add_user(ALICE, "acme")
    slow = {"execution_type": "verify_credentials", "component": "echo", "account_data": {"mode": "slow"}}
    scheduled = await api.client.post("/v1/exec/schedule", json=slow, headers=alice)
    execution_id = (await scheduled.json())["id"]
    started = time.monotonic()
    polled = await api.client.get(f"/v1/exec/poll/{execution_id}?wait=1e100", headers=alice)
    assert polled.status == 200 and (await polled.json())["message"] == "Result not ready yet."
    assert time.monotonic() - started < 1.8  # the slow call takes 2 s: the cap answered
    job = await api.client.get("/v1/jobs/missing?wait=31", headers=alice)
    assert job.status == 404
    for bad in ("abc", "-1", "inf", "nan"):
        refused = await api.client.get(f"/v1/jobs/missing?wait={bad}", headers=alice)
        assert refused.status == 400 and (await refused.json())["field"] == "wait", bad
    doc = await served_document(api)
    [wait] = [p for p in doc["paths"]["/v1/jobs/{job_id}"]["get"]["parameters"] if p.get("name") == "wait"]
    assert "maximum" not in wait["schema"] and "capped" in wait["description"]


async def test_since_is_an_rfc_3339_date_time(api: Api) -> None:
    alice = api.add_user(ALICE, "acme")
    for since in ("0001-01-01T00:00:00.1+23:59", "9999-12-31T23:59:59.999999-23:59", "2026-01-01t00:00:00z",
                  "2026-01-01T00:00:00", "2026-01-01"):  # fmt: skip
        response = await api.client.get("/v1/jobs", params={"since": since}, headers=alice)
        assert response.status == 200, (since, await response.text())
    refused = await api.client.get("/v1/jobs", params={"since": "yesterday"}, headers=alice)
    assert refused.status == 400 and (await refused.json())["field"] == "since"
    doc = await served_document(api)
    [since_param] = [p for p in doc["paths"]["/v1/jobs"]["get"]["parameters"] if p.get("name") == "since"]
    assert since_param["schema"] == {"type": "string", "format": "date-time"}


@pytest.mark.components("echo", "sql", "webservice", "shop")
async def test_the_documents_examples_name_installed_components(api: Api) -> None:
    installed = {c["id"] for c in (await (await api.client.get("/v1/components")).json())["data"]}
    job_types = {t["code"] for t in (await (await api.client.get(
        "/v1/job-types", headers=api.add_user(ALICE, "acme"))).json())["data"]}  # fmt: skip
    doc = await served_document(api)
    named: list[tuple[str, str]] = []
    for path, item in doc["paths"].items():
        for op in (op for method, op in item.items() if method != "parameters"):
            examples = (
                op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("examples", {})
            )
            for example in examples.values():
                value = example["value"]
                if "component" in value:
                    named.append(("component", value["component"]))
                if path.endswith("/process/start"):
                    named.append(("job type", value["name"]))
                if "jobType" in value.get("jobDefinition", {}):
                    named.append(("job type", value["jobDefinition"]["jobType"]))
    assert len(named) >= 8
    for kind, name in named:
        assert name in (installed if kind == "component" else job_types), (kind, name)


# -- the log --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GARBAGE LINE\r\n\r\n",
        b"G@T / HTTP/1.1\r\n\r\n",
        b"GET /health HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-live-123\x00\r\n\r\n",
        b"GET /health HTTP/1.1\r\nBad Header\x01: v\r\n\r\n",
        b"GET /health HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
    ],
)
async def test_malformed_http_is_one_warning_line(
    api: Api, caplog: pytest.LogCaptureFixture, request_bytes: bytes
) -> None:
    caplog.set_level(logging.DEBUG)
    status, _ = await raw_request(api, request_bytes)
    assert status == 400
    # aiohttp logs the error before it answers: it is in the log once the answer is read
    malformed = [r for r in caplog.records if "malformed HTTP request" in r.getMessage()]
    assert len(malformed) == 1
    [record] = malformed
    assert record.levelno == logging.WARNING and record.exc_info is None
    assert "\n" not in record.getMessage() and "sk-live-123" not in record.getMessage()
    assert errors_logged(caplog) == []


# -- short secrets ----------------------------------------------------------------------------


@pytest.mark.parametrize("secret", ["a", "ab", "abc"])
async def test_short_secrets_are_redacted_as_whole_tokens(api: Api, secret: str) -> None:
    alice = api.add_user(ALICE, "acme")
    body = {"execution_type": "verify_credentials", "component": "echo",
            "account_data": {"token": secret, "mode": "raise"}}  # fmt: skip
    scheduled = await api.client.post("/v1/exec/schedule", json=body, headers=alice)
    execution_id = (await scheduled.json())["id"]
    polled = await api.client.get(
        f"/v1/exec/poll/{execution_id}?wait=20", headers=alice, allow_redirects=False
    )
    assert polled.status == 303
    result = await api.client.get(f"/v1/exec/result/{execution_id}?logs=true", headers=alice)
    answer = await result.json()
    assert answer["reason"]["message"] == "upstream refused token **********"
    assert "verifying with token **********" in [line["message"] for line in answer["logs"]]
    assert f"token {secret}" not in json.dumps(answer)


# -- X-Customer-Code ----------------------------------------------------------------------------


async def test_x_customer_code_must_name_the_callers_tenant(api: Api) -> None:
    alice = api.add_user(ALICE, "acme")
    bob = api.add_user("bob@globex.test", "globex")
    for headers in (alice, {**alice, "X-Customer-Code": "acme"}, {**bob, "X-Customer-Code": "globex"}):
        assert (await api.client.get("/v1/accounts", headers=headers)).status == 200
    for code in ("globex", "ACME", ""):
        refused = await api.client.get("/v1/accounts", headers={**alice, "X-Customer-Code": code})
        assert refused.status == 403, repr(code)
        answer = await refused.json()
        assert answer["field"] == "X-Customer-Code" and "X-Customer-Code" in answer["message"]
        assert "tenant" in answer["message"]
    status, _ = await raw_request(
        api,
        b"GET /v1/accounts HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Customer-Code: \xff\r\n"
        b"Authorization: Bearer " + api.users[ALICE].encode() + b"\r\n\r\n",
    )
    assert status == 403
    # public operations have no caller to compare with
    assert (await api.client.get("/health", headers={"X-Customer-Code": "globex"})).status == 200
    # credentials come first: a wrong key is 401 whatever the code
    wrong = await api.client.get(
        "/v1/accounts", headers={"Authorization": "Bearer nope", "X-Customer-Code": "x"}
    )
    assert wrong.status == 401
