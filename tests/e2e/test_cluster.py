"""Several real ``connectord serve`` nodes on one fresh PostgreSQL database: any node
accepts, any node runs, any node answers; each result is delivered once, each slot fires
once, and the work of a node killed with SIGKILL completes on the others."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .cluster import Cluster
from .cluster_api import Api, session_for, tally_lines

pytestmark = pytest.mark.postgres


@pytest.fixture
def database(pg_database: str) -> Iterator[Any]:
    """A connection to the cluster's database, to count what the nodes wrote."""
    import psycopg

    with psycopg.connect(pg_database, autocommit=True) as conn:
        yield conn


@pytest.mark.timeout(240)
async def test_three_nodes_deliver_each_of_1000_executions_exactly_once(
    cluster: Callable[..., Cluster], pg_database: str, tally_site: Path, tmp_path: Path, database: Any
) -> None:
    group = cluster(3, store_url=pg_database, sites=[tally_site], concurrently=True)  # they migrate at once
    key = group.add_user("ops@acme.test")
    tally = tmp_path / "tally.txt"
    limit = asyncio.Semaphore(45)

    async with session_for("ops@acme.test", key) as session:
        api = Api(session, [node.url for node in group.nodes])

        async def one(i: int) -> None:
            async with limit:
                execution_id = await api.schedule(i, {"token": f"t{i}", "tally": str(tally)})
                await api.wait_ready(i + 1, execution_id)  # polled through another node
                status, result, _ = await api.call(i + 2, "GET", f"/v1/exec/result/{execution_id}")
                assert status == 200, result
                assert result["data"] == {"verified": True, "message": f"t{i}"}
                for node in range(3):  # gone for every node once delivered
                    assert (await api.call(node, "GET", f"/v1/exec/result/{execution_id}"))[0] == 404

        await asyncio.gather(*(one(i) for i in range(1000)))

    runs = tally_lines(tally)
    assert sum(runs.values()) == 2000 and set(runs.values()) == {1}  # one start, one end each
    (states,) = database.execute("SELECT array_agg(DISTINCT state) FROM executions").fetchone()
    assert states == ["delivered"]
    (nodes,) = database.execute("SELECT count(DISTINCT claimed_by) FROM executions").fetchone()
    assert nodes == 3  # every node ran some


@pytest.mark.timeout(180)
async def test_fifty_definitions_every_second_fire_once_per_slot_across_three_nodes(
    cluster: Callable[..., Cluster], pg_database: str, tally_site: Path, tmp_path: Path, database: Any
) -> None:
    group = cluster(3, store_url=pg_database, sites=[tally_site])
    key = group.add_user("ops@acme.test")
    tally = tmp_path / "tally.txt"
    async with session_for("ops@acme.test", key) as session:
        api = Api(session, [node.url for node in group.nodes])
        for i in range(50):  # created and started through every node in turn
            body = {
                "jobDefinition": {
                    "jobDefinitionCode": f"every-second-{i}",
                    "jobType": "tally",
                    "params": {"name": f"every-second-{i}", "tally": str(tally)},
                    "schedule": {"cron": "* * * * * ?"},
                }
            }
            assert (await api.call(i, "POST", "/v1/job-definitions", body))[0] == 201
            assert (await api.call(i + 1, "POST", f"/v1/job-definitions/every-second-{i}/_start"))[0] == 200
        await asyncio.sleep(20)  # the test's length: 20 s of firing, not a synchronisation
        for i in range(50):
            assert (await api.call(i + 2, "POST", f"/v1/job-definitions/every-second-{i}/_stop"))[0] == 200
        deadline = time.monotonic() + 30
        while database.execute("SELECT count(*) FROM jobs WHERE status IN ('WAITING', 'STARTED')").fetchone()[
            0
        ]:
            assert time.monotonic() < deadline, "jobs still unfinished 30 s after the last slot"
            await asyncio.sleep(0.2)

    rows = database.execute(
        """SELECT definition_code, count(*), count(DISTINCT scheduled_for), min(scheduled_for),
                  max(scheduled_for), count(*) FILTER (WHERE status = 'COMPLETED')
           FROM jobs GROUP BY definition_code"""
    ).fetchall()
    assert len(rows) == 50
    runs = tally_lines(tally)
    completed_total = 0
    for code, count, distinct, first, last, completed in rows:
        assert count == distinct  # one row per slot
        assert count == round(last - first) + 1, code  # and no slot without a row
        assert count >= 15, (code, count)
        assert runs[code] == completed, code  # every completed run ran once, on one node
        completed_total += completed
    (statuses,) = database.execute("SELECT array_agg(DISTINCT status) FROM jobs").fetchone()
    assert set(statuses) <= {"COMPLETED", "SKIPPED", "MISSED"}
    assert completed_total >= 0.9 * sum(row[1] for row in rows)


@pytest.mark.timeout(180)
async def test_a_killed_nodes_executions_complete_on_the_others_none_twice(
    cluster: Callable[..., Cluster], pg_database: str, tally_site: Path, tmp_path: Path, database: Any
) -> None:
    names = ["node-a", "node-b", "node-c"]
    group = cluster(
        3,
        store_url=pg_database,
        sites=[tally_site],
        env={"CONNECTORD_LEASE_SECONDS": "2"},
        node_env=[{"CONNECTORD_NODE_ID": name} for name in names],
    )
    key = group.add_user("ops@acme.test")
    tally = tmp_path / "tally.txt"
    async with session_for("ops@acme.test", key) as session:
        api = Api(session, [node.url for node in group.nodes])
        ids = [
            await api.schedule(i, {"token": f"t{i}", "tally": str(tally), "seconds": 0.5}) for i in range(40)
        ]
        deadline = time.monotonic() + 30
        while True:  # until node-a is running executions (its workers have started them)
            lost = [
                row[0]
                for row in database.execute(
                    "SELECT id FROM executions WHERE claimed_by = 'node-a' AND state = 'running'"
                ).fetchall()
            ]
            started = {line.split()[1] for line in tally_lines(tally) if line.startswith("start")}
            if lost and started:
                break
            assert time.monotonic() < deadline, "node-a never ran anything"
            await asyncio.sleep(0.05)
        group.nodes[0].kill9()

        async def fetch(i: int, execution_id: str) -> None:
            node = 1 + i % 2  # the survivors
            await api.wait_ready(node, execution_id)
            status, result, _ = await api.call(node, "GET", f"/v1/exec/result/{execution_id}")
            assert status == 200, result
            assert result["data"]["message"] == f"t{i}"

        await asyncio.gather(*(fetch(i, execution_id) for i, execution_id in enumerate(ids)))

    runs = tally_lines(tally)
    ended = {line.split()[1]: n for line, n in runs.items() if line.startswith("end")}
    assert set(ended) == {f"t{i}" for i in range(40)}
    by_id = dict(zip(ids, (f"t{i}" for i in range(40)), strict=True))
    lost_tokens = {by_id[execution_id] for execution_id in lost}
    twice = {token for token, n in ended.items() if n > 1}
    assert twice <= lost_tokens  # only what node-a held can have run again
    for execution_id, claims, node in database.execute("SELECT id, claims, claimed_by FROM executions"):
        if execution_id in lost:  # taken back from node-a, then run by a survivor
            assert claims >= 2 and node in ("node-b", "node-c"), (execution_id, claims, node)


@pytest.mark.timeout(120)
async def test_a_cancel_reaches_the_node_that_runs_the_call(
    cluster: Callable[..., Cluster], pg_database: str, tally_site: Path, tmp_path: Path, database: Any
) -> None:
    group = cluster(
        2, store_url=pg_database, sites=[tally_site], node_env=[{"CONNECTORD_NODE_ID": n} for n in "ab"]
    )
    key = group.add_user("ops@acme.test")
    tally = tmp_path / "tally.txt"

    async def running_on(table: str, row_id: str) -> str:
        status = "state = 'running'" if table == "executions" else "status = 'STARTED'"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # until a worker runs it (started in the tally)
            row = database.execute(
                f"SELECT claimed_by FROM {table} WHERE id = %s AND {status}", (row_id,)
            ).fetchone()
            if row and tally.exists():
                return str(row[0])
            await asyncio.sleep(0.05)
        raise AssertionError(f"{row_id} never ran")

    async with session_for("ops@acme.test", key) as session:
        api = Api(session, [node.url for node in group.nodes])
        execution_id = await api.schedule(0, {"token": "slow", "tally": str(tally), "seconds": 60})
        other = 1 if await running_on("executions", execution_id) == "a" else 0
        started = time.monotonic()
        assert (await api.call(other, "DELETE", f"/v1/exec/{execution_id}"))[0] == 202
        await api.wait_ready(other, execution_id, limit=20)
        status, rejected, _ = await api.call(other, "GET", f"/v1/exec/result/{execution_id}")
        assert status == 400 and rejected["reason"]["kind"] == "cancelled", rejected
        assert time.monotonic() - started < 15  # killed, not waited out

        assert tally_lines(tally) == {"start slow": 1}  # it never got to its end
        tally.unlink()
        params = {"name": "slow-job", "tally": str(tally), "seconds": 60}
        status, created, _ = await api.call(0, "POST", "/v1/job-types/tally/_execute", {"params": params})
        assert status == 202, created
        job_id = created["jobId"]
        other = 1 if await running_on("jobs", job_id) == "a" else 0
        status, cancelled, _ = await api.call(other, "DELETE", f"/v1/jobs/{job_id}")
        assert status == 200 and cancelled["status"] == "CANCELLED", cancelled
        assert time.monotonic() - started < 30
