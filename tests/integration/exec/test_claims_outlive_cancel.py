"""A store call that claims commits whether or not its caller still waits for it, and
whether or not the disk confirms it. When the caller is cancelled meanwhile (the node
stopping, a request given up), or the sync after the commit fails, what the call claimed
must still reach the dispatcher: run, or given back as the node closes. Forgotten, it stays
claimed by this node until its lease runs out (or, with one node, until it starts again)
and counts as one of the claims an execution may lose."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import AsyncIterator
from typing import Any

import pytest

from connectord.api.keys import NODE
from connectord.runtime.dispatch import IDLE_LOOK
from connectord.runtime.executions.requests import ScheduleRequest
from connectord.runtime.executions.settings import ExecutionSettings
from connectord.runtime.node import Node
from connectord.runtime.secrets import hash_api_key
from connectord.runtime.store import SQLITE_FILE, open_store
from connectord.runtime.store.records import Principal, StoreSyncError

from .conftest import Api, HeldEndpoint, claim_loop, execution_lines


def state(api: Api, execution_id: str) -> str:
    """The execution's state, read from the store's file."""
    with contextlib.closing(sqlite3.connect(api.settings.data_dir / SQLITE_FILE)) as db:
        row = db.execute("SELECT state FROM executions WHERE id = ?", (execution_id,)).fetchone()
    assert row is not None
    return str(row[0])


@contextlib.asynccontextmanager
async def store_held(node: Node) -> AsyncIterator[threading.Event]:
    """The store's thread busy with a call that waits for the event yielded: the store calls
    made meanwhile wait behind it, in order."""
    release, inside = threading.Event(), threading.Event()

    def hold() -> None:
        inside.set()
        release.wait(30)

    holding = asyncio.ensure_future(node.run(hold))
    try:
        assert await asyncio.to_thread(inside.wait, 30)
        yield release
    finally:
        release.set()
        await holding


async def scheduled(api: Api, headers: dict[str, str]) -> str:
    body = {"execution_type": "verify_credentials", "component": "echo", "account_data": {"token": "t"}}
    answer = await api.client.post("/v1/exec/schedule", json=body, headers=headers)
    assert answer.status == 202, await answer.text()
    return str((await answer.json())["id"])


def principal_of(api: Api, email: str) -> Principal:
    store = open_store(api.settings)
    try:
        principal = store.principal(hash_api_key(api.users[email]))
    finally:
        store.close()
    assert principal is not None
    return principal


Warm = tuple[dict[str, str], Node, str]


@pytest.fixture
async def warm(api: Api) -> Warm:
    """A user's headers, the node, and the execution that started its zygote: done, and
    nothing queued since."""
    alice = api.add_user("alice@acme.test", "acme")
    first = await scheduled(api, alice)
    assert (await api.client.get(f"/v1/exec/poll/{first}?wait=20", headers=alice)).status == 200
    return alice, api.client.app[NODE], first


async def ran(api: Api, headers: dict[str, str], execution_id: str) -> None:
    """The execution ran: its poll is redirected to its result."""
    poll = await api.client.get(f"/v1/exec/poll/{execution_id}?wait=10", headers=headers)
    assert poll.status == 200, await poll.text()
    assert poll.url.path == f"/v1/exec/result/{execution_id}"


async def test_a_claim_in_the_store_as_the_claim_loop_stops_is_given_back_at_close(
    api: Api, warm: Warm
) -> None:
    alice, node, _ = warm
    dispatcher = node.execution_dispatcher
    for _ in range(ExecutionSettings.max_running):  # every slot taken
        assert await dispatcher.reserve()
    queued = await scheduled(api, alice)  # the claim loop waits for a slot
    assert state(api, queued) == "queued"
    loop = claim_loop(dispatcher)

    async with store_held(node) as release:
        dispatcher.unreserve()
        await asyncio.sleep(0)  # the claim loop took the slot; its claim waits for the store
        loop.cancel()  # as the node's shutdown stops its loops
        release.set()
        await asyncio.wait([loop])
    await node.run(lambda: None)  # the store's thread ran the claim (it runs calls in order)
    assert loop.cancelled()
    assert state(api, queued) == "running"  # the claim was made, committed

    for _ in range(ExecutionSettings.max_running - 1):  # nothing claims any more
        dispatcher.unreserve()
    await dispatcher.close()
    assert state(api, queued) == "queued"  # given back, not left claimed by a closed node


async def test_an_execution_added_claimed_as_its_request_is_cancelled_runs_all_the_same(
    api: Api, warm: Warm
) -> None:
    alice, node, first = warm
    request = ScheduleRequest("verify_credentials", "echo", account_data={"token": "t"})
    principal = principal_of(api, "alice@acme.test")

    async with store_held(node) as release:
        scheduling = asyncio.ensure_future(node.executions.schedule(principal, request))
        await asyncio.sleep(0)  # checked, sealed, a slot reserved: its insert waits for the store
        assert not scheduling.done()
        scheduling.cancel()  # the request given up
        release.set()
        await asyncio.wait([scheduling])
    assert scheduling.cancelled()
    with contextlib.closing(sqlite3.connect(api.settings.data_dir / SQLITE_FILE)) as db:
        rows = db.execute("SELECT id FROM executions WHERE id != ?", (first,)).fetchall()
    assert len(rows) == 1, rows  # added: the store's thread ran the insert before it answered
    (execution_id,) = rows[0]
    assert state(api, execution_id) != "queued"  # added claimed, in the slot it reserved
    await ran(api, alice, execution_id)


async def test_a_node_closing_while_a_cancelled_schedule_adds_its_execution_gives_it_back(
    api: Api, warm: Warm
) -> None:
    _, node, first = warm
    dispatcher = node.execution_dispatcher
    loop = claim_loop(dispatcher)  # stopped first, as the node's shutdown does
    loop.cancel()
    await asyncio.wait([loop])
    request = ScheduleRequest("verify_credentials", "echo", account_data={"token": "t"})
    principal = principal_of(api, "alice@acme.test")

    async with store_held(node) as release:
        scheduling = asyncio.ensure_future(node.executions.schedule(principal, request))
        await asyncio.sleep(0)  # a slot reserved: its insert waits for the store
        scheduling.cancel()  # the request cancelled by the server's shutdown
        closing = asyncio.ensure_future(dispatcher.close())
        await asyncio.sleep(0)
        assert not closing.done()  # it waits for the execution being added claimed
        release.set()
        await asyncio.wait([scheduling, closing])
    assert closing.result() is None
    with contextlib.closing(sqlite3.connect(api.settings.data_dir / SQLITE_FILE)) as db:
        rows = db.execute("SELECT id, state FROM executions WHERE id != ?", (first,)).fetchall()
    assert [state for _, state in rows] == ["queued"]  # run, then given back with the rest
    assert dispatcher.held() == {}


async def test_an_execution_added_claimed_whose_commit_the_disk_did_not_confirm_runs(
    api: Api, warm: Warm
) -> None:
    """The client hears that the disk did not confirm it (503, "look before trying
    again"); what was committed, claimed by this node, runs all the same."""
    alice, _, first = warm
    (api.settings.data_dir / f"{SQLITE_FILE}-wal").unlink()  # every sync fails from here
    body = {"execution_type": "verify_credentials", "component": "echo", "account_data": {"token": "t"}}
    answer = await api.client.post("/v1/exec/schedule", json=body, headers=alice)
    assert answer.status == 503, await answer.text()
    assert "look before trying again" in (await answer.json())["message"]
    listing = await (await api.client.get("/v1/exec", headers=alice)).json()
    added = [each["id"] for each in listing["data"] if each["id"] != first]
    assert len(added) == 1, listing
    await ran(api, alice, added[0])


async def test_an_outcome_recorded_in_a_commit_the_disk_did_not_confirm_is_not_recorded_again(
    api: Api, warm: Warm, held_endpoint: HeldEndpoint
) -> None:
    """The outcome's commit went with a schedule's, whose sync failed: it was made, so its
    long poll hears of it at once, and it is not tried again (to find itself recorded and
    be logged as discarded)."""
    alice, node, _ = warm
    url, arrived, release_call = held_endpoint.url, held_endpoint.arrived, held_endpoint.release
    body = {"execution_type": "verify_credentials", "component": "echo"}
    answer = await api.client.post(
        "/v1/exec/schedule", json={**body, "account_data": {"mode": "fetch", "url": url}}, headers=alice
    )
    held = str((await answer.json())["id"])
    await asyncio.wait_for(arrived.wait(), 20)
    polling = asyncio.ensure_future(api.client.get(f"/v1/exec/poll/{held}?wait=30", headers=alice))
    request = ScheduleRequest("verify_credentials", "echo", account_data={"token": "t"})
    principal = principal_of(api, "alice@acme.test")

    with execution_lines() as logged:
        async with store_held(node) as release_store:
            release_call.set()
            await logged.wait_for("execution finished", held)  # its outcome waits for the store
            scheduling = asyncio.ensure_future(node.executions.schedule(principal, request))
            await asyncio.sleep(0)  # the schedule's insert waits behind it
            (api.settings.data_dir / f"{SQLITE_FILE}-wal").unlink()  # every sync fails from here
            release_store.set()
            await asyncio.wait([scheduling])
        # both queued behind the held call: the store's next turn runs them as one batch
        assert isinstance(scheduling.exception(), StoreSyncError)
        poll = await asyncio.wait_for(polling, 10)  # not its 30 s: told at once
    assert poll.url.path == f"/v1/exec/result/{held}"
    assert not logged.ids_of(f"execution {held}: outcome discarded")


@contextlib.asynccontextmanager
async def lost_to_a_gone_node(api: Api, warm: Warm, claims: int) -> AsyncIterator[str]:
    """An execution yielded as claimed ``claims`` times, the last time by a node that stopped
    renewing (this node's slots all taken meanwhile, so it never runs it itself), its long
    poll waiting on the store; then every sync of the store fails."""
    alice, node, _ = warm
    dispatcher = node.execution_dispatcher
    for _ in range(ExecutionSettings.max_running):
        assert await dispatcher.reserve()
    try:
        lost = await scheduled(api, alice)
        with contextlib.closing(sqlite3.connect(api.settings.data_dir / SQLITE_FILE)) as db, db:
            db.execute(
                "UPDATE executions SET state = 'running', claimed_by = 'gone', lease_until = 0, "
                "claims = ? WHERE id = ?",
                (claims, lost),
            )
    finally:
        for _ in range(ExecutionSettings.max_running):
            dispatcher.unreserve()
    (api.settings.data_dir / f"{SQLITE_FILE}-wal").unlink()  # every sync fails from here
    yield lost


async def listening_poll(api: Api, warm: Warm, execution_id: str) -> asyncio.Future[Any]:
    """A long poll of the execution, once it listens for its end and has looked at the store."""
    alice, node, _ = warm
    polling = asyncio.ensure_future(api.client.get(f"/v1/exec/poll/{execution_id}?wait=30", headers=alice))
    while not node.execution_dispatcher.ends.waited_for(execution_id):  # it listens, then looks
        assert not polling.done(), await polling
        await asyncio.sleep(0.01)
    await node.run(lambda: None)  # its look at the store is done: it found it running
    return polling


async def test_executions_reaped_in_a_commit_the_disk_did_not_confirm_are_ended_for_their_pollers(
    api: Api, warm: Warm
) -> None:
    """A reap that ended a lost node's execution (its last claim) was committed though the
    sync failed: its long poll hears of it at once, not when its wait runs out."""
    async with lost_to_a_gone_node(api, warm, ExecutionSettings.max_claims) as lost:
        polling = await listening_poll(api, warm, lost)

        reaped = await warm[1].execution_dispatcher.reap_once()

        assert reaped.ended == [lost]
        poll = await asyncio.wait_for(polling, 2)  # not its 30 s, nor a lease renewal's 10: at once
    assert poll.url.path == f"/v1/exec/result/{lost}"


async def test_executions_requeued_in_a_commit_the_disk_did_not_confirm_run_at_once(
    api: Api, warm: Warm
) -> None:
    """A reap that put a lost node's execution back in the queue was committed though the
    sync failed: the claim loop is woken and runs it, not at its next idle look."""
    async with lost_to_a_gone_node(api, warm, 1) as lost:
        polling = await listening_poll(api, warm, lost)

        reaped = await warm[1].execution_dispatcher.reap_once()

        assert reaped.requeued == 1
        poll = await asyncio.wait_for(polling, IDLE_LOOK / 2)  # the claim loop's look: 5 s
    assert poll.url.path == f"/v1/exec/result/{lost}"
