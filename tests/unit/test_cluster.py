"""A node's leases, and its bookkeeping of the tasks it runs."""

from __future__ import annotations

import asyncio

from connectord.runtime.cluster import Member, default_node_id, forget_claim, forget_task
from connectord.runtime.leases import may_reap, unbroken_since


def test_a_lease_is_renewed_three_times_over_and_reaping_waits_for_a_whole_one() -> None:
    node = Member("n1", lease_seconds=30)
    assert node.lease_until(100.0) == 130.0 and node.renew_every == 10.0
    assert not may_reap(100.0, None, node)  # the last renewal failed
    assert not may_reap(129.9, 100.0, node)
    assert may_reap(130.0, 100.0, node)


def test_a_slow_or_late_renewal_starts_the_unbroken_run_again() -> None:
    node = Member("n1", lease_seconds=30)  # renews every 10 s
    assert unbroken_since(None, None, 100.0, 100.1, node) == 100.1  # the first one
    assert unbroken_since(100.1, 100.1, 110.1, 110.2, node) == 100.1  # on time and quick
    assert unbroken_since(100.1, 100.1, 120.1, 120.2, node) == 100.1  # one tick late is fine
    # it waited 6 s for the store: the store may have been away meanwhile
    assert unbroken_since(100.1, 100.1, 110.1, 116.1, node) == 116.1
    # this process was paused (or its loop stalled) for longer than two ticks
    assert unbroken_since(100.1, 100.1, 121.0, 121.1, node) == 121.1


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


def test_a_finished_claim_does_not_forget_a_newer_claim_of_its_id() -> None:
    held = {"e1": 2}
    forget_claim(held, "e1", 1)  # the claim under fence 1 ended; fence 2 is newer
    assert held == {"e1": 2}
    forget_claim(held, "e1", 2)
    assert held == {}
