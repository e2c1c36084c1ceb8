"""A finished execution hands its slot to the next queued one in the transaction that
records it. That transaction commits even when the node starts closing while it runs:
what it claimed is then given back with the node's other claims, not left running on a
node that has gone (until its lease ran out, or the node started again)."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3

from connectord.api.keys import NODE
from connectord.runtime.executions.settings import ExecutionSettings
from connectord.runtime.store import SQLITE_FILE

from .conftest import Api, HeldEndpoint, claim_loop, execution_lines


async def scheduled(api: Api, headers: dict[str, str], account: dict[str, str]) -> str:
    body = {"execution_type": "verify_credentials", "component": "echo", "account_data": account}
    answer = await api.client.post("/v1/exec/schedule", json=body, headers=headers)
    assert answer.status == 202, await answer.text()
    return str((await answer.json())["id"])


def state(api: Api, execution_id: str) -> str:
    """The execution's state, read from the store's file."""
    with contextlib.closing(sqlite3.connect(api.settings.data_dir / SQLITE_FILE)) as db:
        row = db.execute("SELECT state FROM executions WHERE id = ?", (execution_id,)).fetchone()
    assert row is not None
    return str(row[0])


async def test_a_slot_handed_over_as_the_node_closes_goes_back_to_the_queue(
    api: Api, held_endpoint: HeldEndpoint
) -> None:
    alice = api.add_user("alice@acme.test", "acme")
    node = api.client.app[NODE]
    dispatcher = node.execution_dispatcher
    url, arrived, release = held_endpoint.url, held_endpoint.arrived, held_endpoint.release
    first = await scheduled(api, alice, {"token": "t"})  # the zygote starts; then nothing is queued
    assert (await api.client.get(f"/v1/exec/poll/{first}?wait=20", headers=alice)).status == 200
    for _ in range(ExecutionSettings.max_running - 1):  # every slot but one taken
        assert await dispatcher.reserve()
    held = await scheduled(api, alice, {"mode": "fetch", "url": url})  # claimed: the last slot
    await asyncio.wait_for(arrived.wait(), 20)
    queued = await scheduled(api, alice, {"token": "t"})
    assert state(api, queued) == "queued"
    loop = claim_loop(dispatcher)  # stopped first, as the node's shutdown does
    loop.cancel()
    await asyncio.wait([loop])
    for _ in range(ExecutionSettings.max_running - 1):  # nothing claims any more
        dispatcher.unreserve()

    # The store stays locked while the held execution's outcome is recorded, so the node
    # starts closing while that transaction (and the claim of the queued one) waits.
    lock = sqlite3.connect(api.settings.data_dir / SQLITE_FILE, isolation_level=None)
    try:
        with execution_lines() as logged:
            lock.execute("BEGIN IMMEDIATE")
            release.set()
            # logged as its outcome is recorded next, in the same step of its task
            await logged.wait_for("execution finished", held)
            closing = asyncio.ensure_future(dispatcher.close())
            await asyncio.sleep(0)  # close() has cancelled the running tasks
            lock.execute("COMMIT")
            await asyncio.wait_for(closing, 20)
    finally:
        lock.close()
    assert state(api, held) == "done"  # recorded
    assert state(api, queued) == "queued"  # given back, not left running
