"""A node without the API around it (runtime/node.py): entered, its loops run what is
scheduled; left, it gives back what still runs. The echo connector in the real sandbox, a
real SQLite file."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from connectord.plugins.manager import Selection
from connectord.runtime.config import Settings
from connectord.runtime.executions.requests import ScheduleRequest
from connectord.runtime.executions.results import decode_outcome
from connectord.runtime.node import Node
from connectord.runtime.secrets import hash_api_key, load_secret_box, new_api_key
from connectord.runtime.store import open_store
from connectord.runtime.store.records import FinishedExecution, Principal
from connectord.sandbox.cgroups import Cgroups
from connectord.sandbox.outcomes import Succeeded
from connectord.sandbox.policy import SandboxPolicy
from connectord.sandbox.supervisor import Supervisor


def build(tmp_path: Path) -> tuple[Node, Principal]:
    settings = Settings(data_dir=tmp_path)
    store = open_store(settings)
    key = new_api_key()
    store.add_user("alice@acme.test", "acme", hash_api_key(key), time.time())
    alice = store.principal(hash_api_key(key))
    assert alice is not None
    policy = SandboxPolicy(concurrency=2, grace=0.2)
    supervisor = Supervisor(Selection(allow=frozenset({"echo"})), policy, Cgroups(None, None))
    return Node(settings, supervisor, store, load_secret_box(tmp_path, None)), alice


def verify(mode: str) -> ScheduleRequest:
    return ScheduleRequest("verify_credentials", "echo", account_data={"token": "t", "mode": mode})


async def test_an_entered_node_runs_what_is_scheduled(tmp_path: Path, echo_on_path: None) -> None:
    node, alice = build(tmp_path)
    async with node:
        record, created = await node.executions.schedule(alice, verify("ok"))
        assert created
        assert await node.executions.poll(alice, record.id, wait=20) == "ready"
        found = await node.executions.result(alice, record.id)
        assert isinstance(found, FinishedExecution)
        assert isinstance(decode_outcome(found.outcome), Succeeded)


async def test_leaving_a_node_gives_back_what_it_runs(tmp_path: Path, echo_on_path: None) -> None:
    node, alice = build(tmp_path)
    async with node:
        # the connector's zygote started, so what is given back below is a running worker
        warm, _ = await node.executions.schedule(alice, verify("ok"))
        assert await node.executions.poll(alice, warm.id, wait=20) == "ready"
        record, _ = await node.executions.schedule(alice, verify("sleep"))  # sleeps for 60 s
        async with asyncio.timeout(20):
            while record.id not in node.execution_dispatcher.held():
                await asyncio.sleep(0.02)
    # Left at once (its worker killed, not waited for), the execution is queued again for
    # the next node on this store, its attempt not counted against it.
    store = open_store(Settings(data_dir=tmp_path))
    try:
        again = store.execution(alice.tenant_id, record.id)
        assert again is not None and again.state == "queued"
    finally:
        store.close()
