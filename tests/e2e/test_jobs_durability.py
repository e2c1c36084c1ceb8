"""A server running jobs: kill -9 while it fires every second, then a restart (every slot is
in the ledger exactly once, run or recorded as missed, and runs cut off by the kill
finish); and a tenant's job cannot reach the server's own files."""

from __future__ import annotations

import datetime as dt
import signal
import socket
import sqlite3
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .conftest import CONNECTORD
from .test_durability import Server, request


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def scheduled_jobs(server: Server, key: str) -> list[dict[str, Any]]:
    status, body, _ = request(server, key, "GET", "/v1/jobs?jobDefinitionCode=tick&limit=500")
    assert status == 200, body
    return [job for job in body["data"] if job["trigger"] == "schedule"]


def until(check: Callable[[], bool], timeout: float = 30.0) -> None:
    """Wait for what another process does (it fires on its own clock)."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "not reached in time"
        time.sleep(0.1)


def test_every_slot_is_recorded_once_across_a_kill(cli_env: dict[str, str]) -> None:
    env, port = cli_env, free_port()  # the same port after the restart: the job calls it
    env["CONNECTORD_EGRESS_ALLOW"] = f"127.0.0.1:{port}"  # loopback is refused unless allowed
    added = subprocess.run(
        [CONNECTORD, "users", "add", "ops@acme.test", "--tenant", "acme"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    key = added.stdout.strip()
    server = Server(env, port)
    definition = {
        "jobDefinitionCode": "tick",
        "jobType": "callWebserviceEndpoint",
        "params": {"url": f"{server.url}/health"},
        "schedule": {"cron": "* * * * * ?"},
        "overlap": "allow",
    }
    assert request(server, key, "POST", "/v1/job-definitions", {"jobDefinition": definition})[0] == 201
    assert request(server, key, "POST", "/v1/job-definitions/tick/_start")[0] == 200
    until(lambda: len(scheduled_jobs(server, key)) >= 3)
    server.stop(signal.SIGKILL)
    killed_at = time.time()
    time.sleep(2.5)  # slots pass while no server runs: that is what this test is about

    restarted = Server(env, port)
    try:
        until(lambda: any(_slot(j) > killed_at + 3 for j in scheduled_jobs(restarted, key)))
        assert request(restarted, key, "POST", "/v1/job-definitions/tick/_stop")[0] == 200
        until(lambda: all(j["status"] not in ("WAITING", "STARTED") for j in scheduled_jobs(restarted, key)))
        jobs = scheduled_jobs(restarted, key)
    finally:
        restarted.stop()

    slots = sorted(round(_slot(j)) for j in jobs)
    assert len(slots) == len(set(slots)), "a slot was fired twice"
    assert slots == list(range(slots[0], slots[-1] + 1)), "a slot was lost"
    statuses = {round(_slot(j)): j["status"] for j in jobs}
    down = [s for s in slots if killed_at + 0.5 < s < killed_at + 2.5]
    assert down and all(statuses[s] == "MISSED" for s in down[:-1]), statuses
    ran = [s for s in slots if statuses[s] != "MISSED"]
    assert all(statuses[s] == "COMPLETED" for s in ran), statuses


def _slot(job: dict[str, Any]) -> float:
    return dt.datetime.fromisoformat(job["scheduledFor"]).timestamp()


def test_a_tenants_query_cannot_reach_the_servers_own_store(cli_env: dict[str, str], tmp_path: Path) -> None:
    added = subprocess.run(
        [CONNECTORD, "users", "add", "ops@acme.test", "--tenant", "acme"],
        env=cli_env,
        capture_output=True,
        text=True,
        check=True,
    )
    key = added.stdout.strip()
    own_store = Path(cli_env["CONNECTORD_DATA_DIR"]) / "connectord.sqlite3"
    theirs = tmp_path / "theirs.sqlite3"
    with sqlite3.connect(theirs) as conn:
        conn.execute("CREATE TABLE t (x INTEGER)")
    server = Server(cli_env)
    try:
        outcomes = {}
        for name, path in (("own store", own_store), ("their database", theirs)):
            account = {"name": name, "component": "sql", "keys": {"url": f"sqlite:///{path}"}}
            status, body, _ = request(server, key, "POST", "/v1/accounts", account)
            assert status == 201, body
            run = {"params": {"query": "SELECT count(*) FROM sqlite_master"}, "accountId": body["id"]}
            status, body, _ = request(server, key, "POST", "/v1/job-types/runQuery/_execute", run)
            assert status == 202, body
            job_id = body["jobId"]
            until(lambda job_id=job_id: request(server, key, "GET", f"/v1/jobs/{job_id}?wait=5")[1]["status"]
                  not in ("WAITING", "STARTED"))  # fmt: skip
            outcomes[name] = request(server, key, "GET", f"/v1/jobs/{job_id}")[1]
    finally:
        server.stop()
    assert outcomes["their database"]["status"] == "COMPLETED", outcomes
    assert outcomes["own store"]["status"] == "FAILED", outcomes
    assert "does not exist" in outcomes["own store"]["error"]["message"]
