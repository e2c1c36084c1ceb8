"""The lease keeper renews what its node runs and reaps only after a whole lease of
unbroken renewals, so an outage of the store does not make live nodes take each other's
work (a real SQLite store, an explicit clock)."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectord.runtime.cluster import Node
from connectord.runtime.leases import LeaseKeeper
from connectord.runtime.store.records import StoreUnavailableError
from connectord.runtime.store.runner import StoreRunner
from connectord.runtime.store.sqlite import SQLiteStore

T0 = 1_800_000_000.0
LEASE = 3.0


class FlakyStore(SQLiteStore):
    """A real store whose renewals can be made to fail: the disk or the database cannot
    be made unavailable on cue here (root writes anywhere), so this stands in for it."""

    down = False

    def renew_leases(self, node: str, lease_until: float, executions: list[str], jobs: list[str]) -> int:  # type: ignore[override]
        if self.down:
            raise StoreUnavailableError("the store is down")
        return super().renew_leases(node, lease_until, executions, jobs)


async def test_reaping_waits_for_a_whole_lease_of_unbroken_renewals(tmp_path: Path) -> None:
    store = FlakyStore(tmp_path / "s.sqlite3")
    run = StoreRunner()
    now = [T0]
    reaps: list[float] = []

    async def reap() -> None:
        reaps.append(now[0])
        await run(store.reap_executions, now[0], 3, b"crashed", b"[]", now[0] + 60)

    store.add_user("a@example.com", "acme", "hash", T0)
    principal = store.principal("hash")
    assert principal is not None
    for execution_id in ("mine", "theirs"):
        store.add_execution(execution_id, principal.tenant_id, b"call", T0)
    store.claim_execution(T0, "node-a", T0 + LEASE)
    store.claim_execution(T0, "node-b", T0 + LEASE)  # node-b will stop renewing
    node = Node("node-a", LEASE)
    keeper = LeaseKeeper(store, run, lambda: now[0], node, lambda: ["mine"], lambda: [], [reap])
    try:
        for step in (0.0, 1.0, 2.0):
            now[0] = T0 + step
            assert not await keeper.once()  # renewing, not yet a whole lease
        store.down = True
        now[0] = T0 + 4.0
        with pytest.raises(StoreUnavailableError):  # the store is gone for a while
            await keeper.once()
        assert keeper.renewing_since is None
        store.down = False
        for step in (5.0, 6.0, 7.0):
            now[0] = T0 + step
            assert not await keeper.once()  # back, but node-b gets a whole lease to renew too
        now[0] = T0 + 8.0
        assert await keeper.once()
        assert reaps == [T0 + 8.0]
        mine = store.execution(principal.tenant_id, "mine")
        theirs = store.execution(principal.tenant_id, "theirs")
        assert mine is not None and mine.state == "running"  # renewed: still ours
        assert theirs is not None and theirs.state == "queued"  # taken back from node-b
    finally:
        run.close()
        store.close()
