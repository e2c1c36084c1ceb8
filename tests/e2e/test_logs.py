"""The log of a real ``connectord serve --log-format json`` process, read line by line:
every line one JSON event, the access log on by default with request ids, the lifecycle
of an execution, a verified account and a failed job with their ids, and no secret (the
credentials, the secret job param, the API key, the metrics token) anywhere in it."""

from __future__ import annotations

import json
import signal
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from .conftest import CONNECTORD
from .sandboxing import TEST_TEMP
from .test_serve import LISTENING

pytestmark = pytest.mark.e2e

PASSWORD = "pw-e2e-logs-secret-6631"
HEADER_SECRET = "hdr-e2e-logs-secret-2207"
METRICS_TOKEN = "metrics-e2e-token-9c1f4e2a7b"


def request(
    url: str, key: str | None, method: str = "GET", body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], Any]:
    sent = {**(headers or {}), **({"Authorization": f"Bearer {key}"} if key else {})}
    data = None if body is None else json.dumps(body).encode()
    if data is not None:
        sent["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=data, method=method, headers=sent)
    try:
        with urllib.request.urlopen(req, timeout=40) as response:
            raw = response.read()
            status, answer_headers = response.status, dict(response.headers)
    except urllib.error.HTTPError as error:
        raw, status, answer_headers = error.read(), error.code, dict(error.headers)
    try:
        return status, answer_headers, json.loads(raw)
    except json.JSONDecodeError:
        return status, answer_headers, raw.decode()


def test_json_log_lines_carry_ids_and_no_secret(cli_env: dict[str, str], tmp_path: Path) -> None:
    # the file says text, the flag says json: the flag wins; the file's metrics token holds
    config = tmp_path / "connectord.toml"
    config.write_text(
        'log_format = "text"\n'
        f'[metrics]\ntoken = "{METRICS_TOKEN}"\n'
        f'[sandbox.default.limits]\nwritable_paths = ["{TEST_TEMP}"]\n'
    )
    env = cli_env | {"CONNECTORD_CONFIG": str(config)}
    added = subprocess.run(
        [CONNECTORD, "users", "add", "ops@example.com", "--tenant", "acme"],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    )
    key = added.stdout.strip()
    process = subprocess.Popen(
        [CONNECTORD, "serve", "--port", "0", "--log-format", "json"],
        env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        match = LISTENING.search(process.stdout.readline())
        assert match, "the server did not start"
        url = match.group(1)
        ids = drive(url, key)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=10)
    check_log(stderr, key, ids)


def drive(url: str, key: str) -> dict[str, str]:
    """An execution, an account verified, a job that fails, metrics scraped; their ids."""
    verify = {
        "execution_type": "verify_credentials",
        "component": "sql",
        "account_data": {"url": "sqlite:////nonexistent/x.db", "password": PASSWORD},
    }
    status, headers, scheduled = request(
        f"{url}/v1/exec/schedule", key, "POST", verify, {"X-Request-Id": "e2e-request-1"}
    )
    assert status == 202 and headers["X-Request-Id"] == "e2e-request-1", scheduled
    status, _, result = request(f"{url}/v1/exec/poll/{scheduled['id']}?wait=25", key)  # follows the 303
    assert status == 200 and result["data"]["verified"] is False, result

    keys = {"url": "sqlite:////nonexistent/y.db", "password": PASSWORD}
    account = {"name": "db", "component": "sql", "keys": keys}
    status, _, stored = request(f"{url}/v1/accounts", key, "POST", account)
    assert status == 201, stored
    status, _, verified = request(f"{url}/v1/accounts/{stored['id']}/_verify", key, "POST")
    assert status == 200 and verified["outcome"] == "succeeded", verified

    job = {"jobDefinition": {
        "jobDefinitionCode": "e2e-job", "jobType": "callWebserviceEndpoint",
        "params": {
            "url": "http://127.0.0.1:9/refused", "method": "GET", "headers": {"X-Token": HEADER_SECRET}
        },
    }}
    status, _, created = request(f"{url}/v1/job-definitions", key, "POST", job)
    assert status == 201, created
    status, _, run = request(f"{url}/v1/job-definitions/e2e-job/_execute", key, "POST")
    assert status == 202, run
    status, _, ended = request(f"{url}/v1/jobs/{run['jobId']}?wait=25", key)
    assert ended["status"] == "FAILED", ended  # loopback is refused by the egress policy

    assert request(f"{url}/metrics", None)[0] == 401
    status, _, text = request(f"{url}/metrics", None, headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert status == 200 and "connectord_job_runs_total" in text
    return {"execution": scheduled["id"], "verification": verified["id"], "job": run["jobId"]}


def check_log(stderr: str, key: str, ids: dict[str, str]) -> None:
    lines = [line for line in stderr.splitlines() if line.strip()]
    events = [json.loads(line) for line in lines]  # every line is one JSON event
    assert all({"time", "level", "logger", "message"} <= set(e) for e in events)
    for secret in (PASSWORD, HEADER_SECRET, key, METRICS_TOKEN):
        assert secret not in stderr

    access = [e for e in events if e.get("event") == "http.request"]
    [schedule] = [e for e in access if e["request_id"] == "e2e-request-1"]
    assert (schedule["method"], schedule["route"], schedule["status"]) == ("POST", "/v1/exec/schedule", 202)
    assert schedule["tenant"] and schedule["duration_ms"] >= 0
    polls = [e for e in access if e["route"] == "/v1/exec/poll/{execution_id}"]
    assert polls and all(ids["execution"] not in json.dumps(e) for e in access)  # patterns, not paths
    assert len({e["request_id"] for e in access}) == len(access)

    def lifecycle(event: str, **fields: str) -> dict[str, Any]:
        found = [
            e for e in events if e.get("event") == event and all(e.get(k) == v for k, v in fields.items())
        ]
        assert found, f"no {event} with {fields}"
        return found[-1]

    execution = {"execution_id": ids["execution"], "connector": "sql"}
    scheduled = lifecycle("execution.scheduled", **execution, request_id="e2e-request-1")
    tenant = scheduled["tenant"]
    lifecycle("execution.started", **execution, tenant=tenant)
    finished = lifecycle("execution.finished", **execution, tenant=tenant, outcome="succeeded")
    assert finished["kind"] == "verify_credentials" and finished["duration_ms"] > 0
    lifecycle("execution.finished", execution_id=ids["verification"], outcome="succeeded")

    job = {"job_id": ids["job"], "definition_code": "e2e-job", "tenant": tenant, "connector": "webservice"}
    lifecycle("job.scheduled", **job)
    lifecycle("job.started", **job)
    failed = lifecycle("job.failed", **job)
    assert failed["status"] == "FAILED" and failed["job_type"] == "callWebserviceEndpoint"
