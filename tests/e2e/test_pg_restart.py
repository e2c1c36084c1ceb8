"""PostgreSQL restarts under two running nodes (a dedicated server, so the machine's own is
left alone): while it is down requests get 503 with Retry-After, the nodes recover by
themselves, and no accepted execution is lost."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from .cluster import Cluster
from .cluster_api import Api, session_for, tally_lines
from .pg_instance import PgInstance

pytestmark = pytest.mark.postgres


@pytest.mark.timeout(180)
async def test_no_accepted_execution_is_lost_when_postgresql_restarts(
    cluster: Callable[..., Cluster], pg_instance: PgInstance, tally_site: Path, tmp_path: Path
) -> None:
    store_url = pg_instance.create_database("restart")
    group = cluster(2, store_url=store_url, sites=[tally_site], env={"CONNECTORD_LEASE_SECONDS": "3"})
    key = group.add_user("ops@acme.test")
    tally = tmp_path / "tally.txt"
    accepted: list[tuple[int, str]] = []
    refusals: list[tuple[int, str | None]] = []
    down = asyncio.Event()

    async with session_for("ops@acme.test", key) as session:
        api = Api(session, [node.url for node in group.nodes])
        body = {"execution_type": "verify_credentials", "component": "tally"}

        async def keep_scheduling(stop: asyncio.Event) -> None:
            i = 0
            while not stop.is_set():
                credentials = {"token": f"t{i}", "tally": str(tally), "seconds": 0.2}
                status, payload, headers = await api.call(
                    i, "POST", "/v1/exec/schedule", {**body, "account_data": credentials}
                )
                if status == 202:
                    accepted.append((i, str(headers["Location"]).rsplit("/", 1)[1]))
                else:
                    assert status == 503, payload  # never a 500 or a hang
                    refusals.append((status, headers.get("Retry-After")))
                    down.set()
                i += 1
                await asyncio.sleep(0.02)  # a steady trickle of clients, not a synchronisation

        stop = asyncio.Event()
        scheduler = asyncio.ensure_future(keep_scheduling(stop))
        while len(accepted) < 20:  # running normally first
            await asyncio.sleep(0.05)
        await asyncio.to_thread(pg_instance.stop, "fast")
        async with asyncio.timeout(30):
            await down.wait()  # the nodes noticed and answer 503
        await asyncio.sleep(2)  # stay down a while: requests keep being refused, not queued
        await asyncio.to_thread(pg_instance.start)
        restarted_at, before = time.monotonic(), len(accepted)
        while len(accepted) < before + 20:  # the nodes accept again, without being restarted
            assert time.monotonic() - restarted_at < 30, "no execution accepted 30 s after the restart"
            await asyncio.sleep(0.05)
        stop.set()
        await scheduler

        async def fetch(i: int, execution_id: str) -> None:
            await api.wait_ready(i + 1, execution_id, limit=90)
            status, result, _ = await api.call(i, "GET", f"/v1/exec/result/{execution_id}")
            assert status == 200, result
            assert result["data"]["message"] == f"t{i}"

        await asyncio.gather(*(fetch(i, execution_id) for i, execution_id in accepted))

    assert refusals and all(retry_after for _, retry_after in refusals)
    ends = {line.split()[1]: n for line, n in tally_lines(tally).items() if line.startswith("end")}
    assert set(ends) >= {f"t{i}" for i, _ in accepted}
    # both nodes lived through it: neither took the other's running calls back to run again
    assert {token: n for token, n in ends.items() if n > 1} == {}
    assert all(node.alive() for node in group.nodes)
