"""A node's leases, and its bookkeeping of the tasks it runs."""

from __future__ import annotations

import asyncio

from connectord.runtime.cluster import Node, default_node_id, forget_task
from connectord.runtime.leases import may_reap


def test_a_lease_is_renewed_three_times_over_and_reaping_waits_for_a_whole_one() -> None:
    node = Node("n1", lease_seconds=30)
    assert node.lease_until(100.0) == 130.0 and node.renew_every == 10.0
    assert not may_reap(100.0, None, node)  # the last renewal failed
    assert not may_reap(129.9, 100.0, node)
    assert may_reap(130.0, 100.0, node)


def test_node_ids_tell_processes_apart() -> None:
    assert default_node_id() != default_node_id()


async def test_a_finished_task_does_not_forget_a_newer_claim_of_its_id() -> None:
    async def work() -> None:
        return None

    old, new = asyncio.ensure_future(work()), asyncio.ensure_future(work())
    await asyncio.gather(old, new)
    tasks = {"e1": new}
    forget_task(tasks, "e1", old)
    assert tasks == {"e1": new}
    forget_task(tasks, "e1", new)
    assert tasks == {}
